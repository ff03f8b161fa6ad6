"""Re-enrolling under an existing node id: only with proof of its secret, never for a revoked id."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from shareai.agent.control.enroll import enroll
from shareai.agent.control.identity import IDENTITY_FILE, load_identity
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from tests.coordinator.fleet.conftest import Harness


async def _enrolled_details(h: Harness) -> list[dict[str, object]]:
    return [e.details for e in await h.coord.audit.list(action_prefix="node.enrolled")]


async def test_reenroll_with_proof_keeps_the_id_and_voids_the_old_secret(harness: Harness) -> None:
    ident = await harness.enroll()
    await harness.register(ident)
    again = await harness.enroll(node_id=ident.node_id, node_secret=ident.node_secret)
    assert again.node_id == ident.node_id and again.node_secret != ident.node_secret
    assert harness.fleet.registry.get(ident.node_id) is None  # registered under the void secret: gone
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.beat(ident)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    await harness.register(again)
    assert not (await harness.beat(again)).reregister


@pytest.mark.parametrize("proof", ["", "ns_wrong"])
async def test_reenroll_without_proof_gets_a_new_id_and_leaves_the_node_alone(harness: Harness, proof: str) -> None:
    victim = await harness.enroll(name="victim")
    reg = await harness.register(victim)
    # Another machine with a token of the same org and the victim's (not secret) id.
    taker = await harness.enroll(name="taker", node_id=victim.node_id, node_secret=proof)
    assert taker.node_id != victim.node_id
    node = harness.fleet.registry.get(victim.node_id)
    assert node is not None and node.data_plane_secret == reg.data_plane_secret
    assert not (await harness.beat(victim)).reregister  # its secret still works
    record = harness.fleet.store.get(victim.node_id)
    assert record is not None and record.name != "taker" and not record.revoked
    details = await _enrolled_details(harness)
    assert details[-1]["asked_id"] == victim.node_id and details[-1]["reenrolled"] is False


async def test_an_unknown_id_with_any_secret_gets_a_new_id(harness: Harness) -> None:
    ident = await harness.enroll(node_id="node_000000000000", node_secret="ns_anything")
    assert ident.node_id != "node_000000000000"
    assert (await harness.beat(ident)).reregister  # authenticated as itself, not yet registered


async def test_agent_enroll_sends_its_secret_and_keeps_its_id(harness: Harness, tmp_path: Path) -> None:
    data = tmp_path / "agent"
    first = await enroll(harness.coord.grpc_target, await harness.token(), data_dir=data, name="rig")
    second = await enroll(harness.coord.grpc_target, await harness.token(), data_dir=data)
    assert second.node_id == first.node_id and second.node_secret != first.node_secret
    assert load_identity(data) == second
    # An identity file whose secret is no longer valid (or was copied from elsewhere) gets a new id.
    path = data / IDENTITY_FILE
    raw = json.loads(path.read_text())
    raw["node_secret"] = "ns_stale"
    path.write_text(json.dumps(raw))
    third = await enroll(harness.coord.grpc_target, await harness.token(), data_dir=data)
    assert third.node_id != first.node_id
    assert load_identity(data) == third
    # The identity named in that file is untouched: the secret `second` got still authenticates.
    kept = pb.EnrollResponse(node_id=second.node_id, node_secret=second.node_secret, org=second.org)
    assert (await harness.beat(kept)).reregister
    details = await _enrolled_details(harness)
    assert [d["reenrolled"] for d in details] == [False, True, False]
    assert details[-1]["asked_id"] == first.node_id
