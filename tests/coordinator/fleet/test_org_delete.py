"""Deleting an org through the real admin API revokes its enrollment tokens and its nodes."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import grpc
import pytest

from shareai.coordinator.app import Coordinator
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.proto.fleet.v1 import fleet_pb2_grpc as pb_grpc
from tests.coordinator.fleet.conftest import DEADLINE_S, Harness, creds, start_coordinator


async def _harness(coord: Coordinator, http: aiohttp.ClientSession, channel: grpc.aio.Channel) -> Harness:
    return Harness(coord, channel, pb_grpc.FleetStub(channel), http)


async def _token(h: Harness, org: str, uses: int = 1) -> tuple[str, str]:
    status, body = await h.admin("POST", "/admin/v1/tokens", {"org": org, "uses": uses})
    assert status == 201, body
    return str(body["id"]), str(body["token"])


async def _enroll(h: Harness, token: str, **fields: str) -> pb.EnrollResponse:
    resp: pb.EnrollResponse = await h.stub.Enroll(pb.EnrollRequest(token=token, name="rig", **fields),
                                                  timeout=DEADLINE_S)
    return resp


async def _refused(call: object, code: grpc.StatusCode, text: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    assert err.value.code() == code and text in (err.value.details() or "")


async def test_deleting_an_org_revokes_its_tokens_and_nodes_and_a_new_org_inherits_nothing(tmp_path: Path) -> None:
    coord = await start_coordinator(tmp_path / "coord", full=True)
    async with aiohttp.ClientSession() as http, grpc.aio.insecure_channel(coord.grpc_target) as channel:
        h = await _harness(coord, http, channel)
        try:
            for org in ("acme", "other"):
                assert (await h.admin("POST", "/admin/v1/orgs", {"name": org}))[0] == 201
            used_id, used = await _token(h, "acme", uses=3)
            spare_id, spare = await _token(h, "acme")
            _, other_token = await _token(h, "other")
            node = await _enroll(h, used)
            await h.register(node)
            bystander = await _enroll(h, other_token)
            await h.register(bystander)
            directory = coord.fleet.directory
            assert [r.node_id for r in directory.routes_for("m1", "acme")] == [node.node_id]

            status, out = await h.admin("DELETE", "/admin/v1/orgs/acme")
            assert status == 200, out
            assert out["revoked_nodes"] == [node.node_id]
            assert sorted(out["revoked_tokens"]) == sorted([used_id, spare_id])
            # Out of routing at once, refused on its next call; the other org's node is untouched.
            assert [r.node_id for r in directory.routes_for("m1", None)] == [bystander.node_id]
            await _refused(h.beat(node), grpc.StatusCode.PERMISSION_DENIED, "revoked")
            assert not (await h.beat(bystander)).reregister
            for token in (used, spare):
                await _refused(_enroll(h, token), grpc.StatusCode.UNAUTHENTICATED, "revoked")
            status, listing = await h.admin("GET", "/admin/v1/tokens")
            states = {t["id"]: t["state"] for t in listing["data"]}
            assert states[used_id] == states[spare_id] == "revoked"
            events = await coord.audit.list(action_prefix="node.revoked")
            assert [(e.target, e.details.get("reason")) for e in events] == [(f"node:{node.node_id}", "org deleted")]
            revoked = await coord.audit.list(action_prefix="token.revoke")
            assert sorted(e.details["token_id"] for e in revoked) == sorted([used_id, spare_id])

            # A new org with the same name inherits nothing.
            assert (await h.admin("POST", "/admin/v1/orgs", {"name": "acme"}))[0] == 201
            for token in (used, spare):
                await _refused(_enroll(h, token), grpc.StatusCode.UNAUTHENTICATED, "revoked")
            await _refused(h.beat(node), grpc.StatusCode.PERMISSION_DENIED, "revoked")
            _, fresh = await _token(h, "acme")
            again = await _enroll(h, fresh, node_id=node.node_id, node_secret=node.node_secret)
            assert again.node_id != node.node_id and again.org == "acme"
            assert directory.routes_for("m1", "acme") == []
        finally:
            await coord.stop(grace_s=1.0)

    # And it holds after a restart.
    coord = await start_coordinator(tmp_path / "coord", full=True)
    async with aiohttp.ClientSession() as http, grpc.aio.insecure_channel(coord.grpc_target) as channel:
        h = await _harness(coord, http, channel)
        try:
            await _refused(_enroll(h, spare), grpc.StatusCode.UNAUTHENTICATED, "revoked")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await h.stub.Heartbeat(pb.HeartbeatRequest(), metadata=creds(node), timeout=DEADLINE_S)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        finally:
            await coord.stop(grace_s=1.0)
