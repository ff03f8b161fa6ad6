"""A node of one org trying to act as another, through raw gRPC stubs against a real coordinator."""

from __future__ import annotations

import grpc
import pytest

from shareai.proto.fleet.v1 import fleet_pb2 as pb
from tests.coordinator.fleet.conftest import DEADLINE_S, Harness, creds, register_request

VICTIM_URL = "http://127.0.0.1:9/v1"
ATTACKER_URL = "http://127.0.0.1:6666/v1"


async def _victim_and_attacker(h: Harness) -> tuple[pb.EnrollResponse, pb.RegisterResponse, pb.EnrollResponse]:
    victim = await h.enroll(org="org-a", name="victim")
    reg = await h.register(victim)
    attacker = await h.enroll(org="org-b", name="attacker")
    await h.register(attacker)
    return victim, reg, attacker


def _smuggled(victim: pb.EnrollResponse, attacker: pb.EnrollResponse) -> list[tuple[tuple[str, str], ...]]:
    """Metadata that names the victim once and authenticates as the attacker."""
    own = creds(attacker)
    return [
        (("x-shareai-node-id", victim.node_id), *own),                 # victim's id first, own id+secret after
        (*own, ("x-shareai-node-id", victim.node_id)),                 # and the other way round
        (("authorization", "Bearer ns_guess"), *own),                  # two secrets
        (*own, ("authorization", f"Bearer {attacker.node_secret}")),   # the same secret twice
    ]


async def _assert_refused(call: object) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "exactly once" in (err.value.details() or "")


async def test_duplicated_identity_metadata_is_refused_and_the_victim_is_untouched(harness: Harness) -> None:
    victim, reg, attacker = await _victim_and_attacker(harness)
    registry = harness.fleet.registry
    for metadata in _smuggled(victim, attacker):
        hijack = register_request(victim.node_id)
        hijack.endpoint_url = ATTACKER_URL
        await _assert_refused(harness.stub.Register(hijack, metadata=metadata, timeout=DEADLINE_S))
        unnamed = register_request("")
        unnamed.endpoint_url = ATTACKER_URL
        await _assert_refused(harness.stub.Register(unnamed, metadata=metadata, timeout=DEADLINE_S))
        await _assert_refused(harness.stub.Heartbeat(
            pb.HeartbeatRequest(node_id=victim.node_id, state=pb.AVAILABILITY_STATE_AWAY), metadata=metadata,
            timeout=DEADLINE_S))
        await _assert_refused(harness.stub.Deregister(
            pb.DeregisterRequest(node_id="", reason="hijack"), metadata=metadata, timeout=DEADLINE_S))
    node = registry.get(victim.node_id)
    assert node is not None, "the victim was deregistered"
    assert node.endpoint_url == VICTIM_URL and node.data_plane_secret == reg.data_plane_secret
    assert node.available and node.record.org == "org-a"
    (route,) = harness.coord.fleet.directory.routes_for("m1", "org-a")
    assert route.node_id == victim.node_id and route.endpoint_url == VICTIM_URL
    # Both nodes still work with honest metadata.
    assert not (await harness.beat(victim)).reregister
    assert not (await harness.beat(attacker)).reregister


async def test_a_node_cannot_name_another_node_in_its_request(harness: Harness) -> None:
    victim, reg, attacker = await _victim_and_attacker(harness)
    hijack = register_request(victim.node_id)
    hijack.endpoint_url = ATTACKER_URL
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.Register(hijack, metadata=creds(attacker), timeout=DEADLINE_S)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    node = harness.fleet.registry.get(victim.node_id)
    assert node is not None and node.data_plane_secret == reg.data_plane_secret
