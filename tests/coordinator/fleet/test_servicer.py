"""The control plane over a real grpc.aio server on port 0, inside a real `Coordinator`."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.proto.fleet.v1 import fleet_pb2_grpc as pb_grpc
from tests.coordinator.fleet.conftest import DEADLINE_S, Clock, Harness, creds, start_coordinator


async def _audit_actions(h: Harness) -> list[str]:
    return [e.action for e in await h.coord.audit.list(action_prefix="node.")]


async def test_enroll_register_heartbeat_and_route(harness: Harness) -> None:
    ident = await harness.enroll(name="lab-rig")
    assert ident.node_id.startswith("node_") and ident.node_secret.startswith("ns_") and ident.org == "acme"
    reg = await harness.register(ident)
    assert (reg.heartbeat_interval_s, reg.patience, reg.org) == (5.0, 3, "acme")
    assert reg.data_plane_secret.startswith("dp_")
    hb = await harness.beat(ident, busy=1)
    assert not hb.reregister and hb.heartbeat_interval_s == 5.0
    (route,) = harness.coord.fleet.directory.routes_for("m1", "acme")
    assert route.data_plane_secret == reg.data_plane_secret and route.load.slots_busy == 1
    assert await _audit_actions(harness) == ["node.enrolled", "node.registered"]


async def test_tokens_refuse_reuse_unknown_and_expired_one_call_at_a_time(harness: Harness, clock: Clock) -> None:
    token = await harness.token(uses=1)
    await harness.stub.Enroll(pb.EnrollRequest(token=token, name="a"), timeout=DEADLINE_S)
    for bad, reason in ((token, "already been used"), ("enr_nope", "unknown")):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await harness.stub.Enroll(pb.EnrollRequest(token=bad, name="b"), timeout=DEADLINE_S)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert reason in (err.value.details() or "")
    two = await harness.token(uses=2, ttl_s=60)
    await harness.stub.Enroll(pb.EnrollRequest(token=two, name="c"), timeout=DEADLINE_S)
    clock.advance(61)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.Enroll(pb.EnrollRequest(token=two, name="d"), timeout=DEADLINE_S)
    assert "expired" in (err.value.details() or "")
    status, body = await harness.admin("GET", "/admin/v1/tokens")
    assert status == 200 and [t["state"] for t in body["data"]] == ["used", "expired"]
    assert all("token" not in t for t in body["data"])


async def test_bad_or_missing_secret_is_unauthenticated(harness: Harness) -> None:
    ident = await harness.enroll()
    for metadata in (creds(ident, secret="ns_wrong"), (("x-shareai-node-id", ident.node_id),),
                     (("authorization", f"Bearer {ident.node_secret}"), ("x-shareai-node-id", "node_other"))):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await harness.stub.Heartbeat(pb.HeartbeatRequest(node_id=ident.node_id), metadata=metadata,
                                         timeout=DEADLINE_S)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # A node may not speak for another one.
    other = await harness.enroll(name="other")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.Heartbeat(pb.HeartbeatRequest(node_id=other.node_id), metadata=creds(ident),
                                     timeout=DEADLINE_S)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # The health service stays open.
    health = health_pb2_grpc.HealthStub(harness.channel)
    resp = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=DEADLINE_S)
    assert resp.status == health_pb2.HealthCheckResponse.SERVING


async def test_revoked_node_is_refused_and_unrouted_and_stays_revoked(harness: Harness) -> None:
    ident = await harness.enroll()
    await harness.register(ident)
    status, body = await harness.admin("POST", f"/admin/v1/nodes/{ident.node_id}/revoke")
    assert status == 200 and body["status"] == "revoked"
    assert harness.coord.fleet.directory.routes_for("m1", None) == []
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.beat(ident)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    status, body = await harness.admin("POST", f"/admin/v1/nodes/{ident.node_id}/revoke")
    assert status == 400 and body["error"]["code"] == "already_revoked"
    # Even with its secret as proof, a revoked id is not given back: the machine gets a new id.
    again = await harness.enroll(node_id=ident.node_id, node_secret=ident.node_secret)
    assert again.node_id != ident.node_id
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.beat(ident)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await harness.beat(again)).reregister
    await harness.register(again)
    assert not (await harness.beat(again)).reregister
    assert await _audit_actions(harness) == [
        "node.enrolled", "node.registered", "node.revoked", "node.enrolled", "node.registered"]


async def test_reenroll_into_another_org_gets_a_new_id(harness: Harness) -> None:
    ident = await harness.enroll(org="acme")
    other = await harness.enroll(org="beta", node_id=ident.node_id)
    assert other.node_id != ident.node_id and other.org == "beta"


async def test_liveness_offline_away_back_deregistered_are_audited(harness: Harness, clock: Clock) -> None:
    ident = await harness.enroll()
    await harness.register(ident)
    await harness.beat(ident, state=pb.AVAILABILITY_STATE_AWAY)
    await harness.beat(ident)
    clock.advance(15.5)
    harness.fleet.sweep()
    status, body = await harness.admin("GET", f"/admin/v1/nodes/{ident.node_id}")
    assert status == 200 and body["status"] == "offline"
    await harness.beat(ident)
    await harness.stub.Deregister(pb.DeregisterRequest(node_id=ident.node_id, reason="shutdown"),
                                  metadata=creds(ident), timeout=DEADLINE_S)
    assert harness.coord.fleet.directory.routes_for("m1", None) == []
    events = await harness.coord.audit.list(action_prefix="node.")
    assert [e.action for e in events] == ["node.enrolled", "node.registered", "node.away", "node.back",
                                          "node.offline", "node.back", "node.deregistered"]
    offline = events[4]
    assert offline.actor == "coordinator" and offline.details["silent_s"] == 15.5


async def test_register_validates_its_request(harness: Harness) -> None:
    ident = await harness.enroll()
    bad = pb.RegisterRequest(node_id=ident.node_id, endpoint_url="ftp://x", models=[pb.ModelInfo(name="m")])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.Register(bad, metadata=creds(ident), timeout=DEADLINE_S)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = pb.RegisterRequest(node_id=ident.node_id, endpoint_url="http://x/v1")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.Register(bad, metadata=creds(ident), timeout=DEADLINE_S)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_restarted_coordinator_keeps_identities_and_asks_to_reregister(tmp_path: Path) -> None:
    data = tmp_path / "coord"
    coord = await start_coordinator(data)
    try:
        async with grpc.aio.insecure_channel(coord.grpc_target) as channel:
            stub = pb_grpc.FleetStub(channel)
            fleet = coord.fleet.service
            info = await fleet.tokens.create(org="acme", ttl_s=60, uses=1, actor="t", now=coord.clock())
            ident = await stub.Enroll(pb.EnrollRequest(token=info.token, name="rig"), timeout=DEADLINE_S)
            from tests.coordinator.fleet.conftest import register_request
            await stub.Register(register_request(ident.node_id), metadata=creds(ident), timeout=DEADLINE_S)
    finally:
        await coord.stop(grace_s=1.0)
    coord = await start_coordinator(data)
    try:
        async with grpc.aio.insecure_channel(coord.grpc_target) as channel:
            stub = pb_grpc.FleetStub(channel)
            resp = await stub.Heartbeat(pb.HeartbeatRequest(node_id=ident.node_id), metadata=creds(ident),
                                        timeout=DEADLINE_S)
            assert resp.reregister
            record = coord.fleet.service.store.get(ident.node_id)
            # The last registration survived, so listings can describe the node while it is away.
            assert record.registration["models"][0]["name"] == "m1"
            assert record.registration["endpoint_url"] == "http://127.0.0.1:9/v1"
    finally:
        await coord.stop(grace_s=1.0)


async def test_last_seen_is_persisted_by_the_sweep_and_on_stop(tmp_path: Path, clock: Clock) -> None:
    data = tmp_path / "coord"
    coord = await start_coordinator(data, clock)

    async def stored_last_seen(node_id: str) -> float:
        fleet = coord.fleet.service
        await fleet.store.flush()
        (row,) = await coord.db.fetchall("SELECT last_seen FROM fleet_nodes WHERE id = ?", (node_id,))
        return float(row["last_seen"])

    try:
        async with grpc.aio.insecure_channel(coord.grpc_target) as channel:
            stub = pb_grpc.FleetStub(channel)
            fleet = coord.fleet.service
            registered_at = clock()
            info = await fleet.tokens.create(org="acme", ttl_s=600, uses=1, actor="t", now=clock())
            ident = await stub.Enroll(pb.EnrollRequest(token=info.token, name="rig"), timeout=DEADLINE_S)
            from tests.coordinator.fleet.conftest import register_request
            await stub.Register(register_request(ident.node_id), metadata=creds(ident), timeout=DEADLINE_S)

            async def beat(seq: int) -> None:
                await stub.Heartbeat(pb.HeartbeatRequest(node_id=ident.node_id, seq=seq), metadata=creds(ident),
                                     timeout=DEADLINE_S)

            clock.advance(4.0)
            await beat(1)
            fleet.sweep()
            assert await stored_last_seen(ident.node_id) == registered_at  # heartbeats never write
            clock.advance(fleet.persist_seen_s - 4.0)
            fleet.sweep()  # persist_seen_s after the last write: the sweep queues last-seen times
            assert await stored_last_seen(ident.node_id) == registered_at + 4.0
            clock.advance(3.0)
            await beat(2)
            last_beat = clock()
    finally:
        await coord.stop(grace_s=1.0)  # a graceful stop writes the latest ones
    clock.advance(3600.0)
    coord = await start_coordinator(data, clock)
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(coord, None, None, http)  # type: ignore[arg-type]  # admin API only
            status, body = await h.admin("GET", f"/admin/v1/nodes/{ident.node_id}")
        assert status == 200 and body["status"] == "offline" and body["last_seen"] == last_beat
    finally:
        await coord.stop(grace_s=1.0)
