"""The registry's model/org index against a naive reference: random sequences of register (again,
with other models, into another org), heartbeat (away, draining, back), drain, silence past the
deadline, sweep, deregister, revoke and org deletion; after every step the routing answers and the
index itself must equal what a full scan of the reference fleet says."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from shareai.coordinator.fleet.nodes import NodeRecord
from shareai.coordinator.fleet.registry import LiveNode, Registry
from shareai.coordinator.fleet.route_index import RouteIndex
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from tests.coordinator.fleet.conftest import Clock, register_request

AVAILABLE = pb.AVAILABILITY_STATE_AVAILABLE
AWAY = pb.AVAILABILITY_STATE_AWAY
DRAINING = pb.AVAILABILITY_STATE_DRAINING
INTERVAL, PATIENCE = 5.0, 3
NODES = [f"n{i}" for i in range(12)]
ORGS = ["acme", "globex", "initech"]
MODELS = ["m1", "m2", "m3", "m4"]


@dataclass
class RefNode:
    """What a full scan needs to know of one registered node."""

    record: NodeRecord
    models: tuple[str, ...]
    state: int
    last_seen: float


class Reference:
    """The naive fleet: every answer is a scan of every registered node."""

    def __init__(self) -> None:
        self.nodes: dict[str, RefNode] = {}
        self.draining: set[str] = set()

    def routable(self, n: RefNode, org: str | None, now: float) -> bool:
        return (n.state == AVAILABLE and not n.record.revoked and (org is None or n.record.org == org)
                and now - n.last_seen <= INTERVAL * PATIENCE)

    def routes(self, model: str, org: str | None, now: float) -> list[str]:
        return sorted(i for i, n in self.nodes.items() if model in n.models and self.routable(n, org, now))

    def model_names(self, org: str | None, now: float) -> set[str]:
        return {m for n in self.nodes.values() if self.routable(n, org, now) for m in n.models}

    def registered(self, model: str, org: str | None) -> set[str]:
        return {i for i, n in self.nodes.items() if model in n.models and (org is None or n.record.org == org)}


def _record(node_id: str, org: str) -> NodeRecord:
    return NodeRecord(id=node_id, name=node_id, org=org, secret_hash="0" * 64, enrolled_at=0.0)


def _check(reg: Registry, ref: Reference, now: float) -> None:
    for org in [None, *ORGS]:
        assert reg.model_names(org) == ref.model_names(org, now), org
        for model in MODELS:
            assert [r.node_id for r in reg.routes_for(model, org)] == ref.routes(model, org, now), (model, org)
            assert set(reg.index.ids(model, org)) == ref.registered(model, org), (model, org)
        assert set(reg.index.models(org)) == {m for m in MODELS if ref.registered(m, org)}, org
    assert len(reg.index) == len(reg) == len(ref.nodes)


@pytest.mark.parametrize("seed", range(8))
def test_index_matches_a_full_scan_through_random_lifecycles(seed: int) -> None:
    rng = random.Random(seed)
    clock = Clock()
    reg = Registry(interval_s=INTERVAL, patience=PATIENCE, clock=clock)
    ref = Reference()
    records: dict[str, NodeRecord] = {}
    seq = 0
    for _ in range(300):
        op = rng.choice(["register", "register", "heartbeat", "heartbeat", "drain", "silence", "sweep",
                         "deregister", "revoke", "revoke_in_place", "delete_org"])
        node_id = rng.choice(NODES)
        now = clock()
        if op == "register":
            record = records.get(node_id)
            if record is None or record.revoked or rng.random() < 0.2:
                # Enrolled (again), possibly into another org: a new identity record.
                record = records[node_id] = _record(node_id, rng.choice(ORGS))
            models = tuple(rng.sample(MODELS, rng.randint(0, 3)))
            state = rng.choice([AVAILABLE, AVAILABLE, AWAY, DRAINING, pb.AVAILABILITY_STATE_UNSPECIFIED])
            reg.register(record, register_request(node_id, models=models, state=state), now)
            ref.draining.discard(node_id)
            ref.nodes[node_id] = RefNode(record, models, state or AVAILABLE, now)
        elif op == "heartbeat":
            seq += 1
            state = rng.choice([AVAILABLE, AVAILABLE, AWAY, DRAINING])
            events = reg.heartbeat(node_id, pb.HeartbeatRequest(node_id=node_id, seq=seq, state=state), now)
            assert (events is None) == (node_id not in ref.nodes)
            if node_id in ref.nodes:
                ref.nodes[node_id].state = DRAINING if node_id in ref.draining else state
                ref.nodes[node_id].last_seen = now
        elif op == "drain":
            assert (reg.drain(node_id) is None) == (node_id not in ref.nodes)
            if node_id in ref.nodes:
                ref.draining.add(node_id)
                ref.nodes[node_id].state = DRAINING
        elif op == "silence":
            clock.advance(rng.choice([1.0, 4.0, 10.0, 15.0, 16.0]))
        elif op == "sweep":
            reg.sweep(now)
        elif op == "deregister":
            reg.deregister(node_id, "shutdown")
            ref.nodes.pop(node_id, None)
            ref.draining.discard(node_id)
        elif op in ("revoke", "revoke_in_place") and node_id in records:
            records[node_id].revoked_at = now
            if op == "revoke":  # what the service does; in place: routing must still refuse it
                reg.drop(node_id)
                ref.nodes.pop(node_id, None)
                ref.draining.discard(node_id)
        elif op == "delete_org":
            org = rng.choice(ORGS)
            for rec in records.values():
                if rec.org == org and not rec.revoked:
                    rec.revoked_at = now
                    reg.drop(rec.id)
                    ref.nodes.pop(rec.id, None)
                    ref.draining.discard(rec.id)
        _check(reg, ref, clock())


class CountingRegistry(Registry):
    """Counts the nodes a lookup examines (the promise: those of the org serving the model)."""

    examined = 0

    def _routable(self, node: LiveNode, org: str | None, now: float) -> bool:
        self.examined += 1
        return super()._routable(node, org, now)


def test_lookup_sees_only_the_orgs_nodes_for_the_model() -> None:
    clock = Clock()
    reg = CountingRegistry(interval_s=INTERVAL, patience=PATIENCE, clock=clock)
    for i in range(200):
        reg.register(_record(f"big{i}", "globex"), register_request(f"big{i}", models=("m1",)), clock())
    reg.register(_record("mine", "acme"), register_request("mine", models=("m1", "m2")), clock())
    assert set(reg.index.ids("m1", "acme")) == {"mine"}
    assert dict(reg.index.models("acme")) == {"m1": {"mine"}, "m2": {"mine"}}
    assert len(reg.index.ids("m1", None)) == 201
    assert [r.node_id for r in reg.routes_for("m1", "acme")] == ["mine"]
    assert reg.model_names("acme") == {"m1", "m2"}
    assert reg.examined == 3  # "mine" once for the routes, once per model for the names


def test_index_replaces_a_registration_and_forgets_empty_keys() -> None:
    index = RouteIndex()
    index.add("n1", org="acme", models=("m1", "m2"))
    index.add("n1", org="globex", models=("m2", "m2"))  # enrolled into another org, duplicate name
    assert set(index.ids("m1", None)) == set() and set(index.ids("m1", "acme")) == set()
    assert set(index.ids("m2", "globex")) == {"n1"} and dict(index.models("acme")) == {}
    index.remove("n1")
    index.remove("n1")  # idempotent
    assert dict(index.models(None)) == {} and len(index) == 0
