"""The in-memory registry with an injected clock: liveness, availability, routing view."""

from __future__ import annotations

from shareai.coordinator.fleet.liveness import NodeStatus
from shareai.coordinator.fleet.nodes import NodeRecord
from shareai.coordinator.fleet.registry import Registry
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from tests.coordinator.fleet.conftest import Clock, register_request


def _record(node_id: str, org: str = "acme") -> NodeRecord:
    return NodeRecord(id=node_id, name=node_id, org=org, secret_hash="0" * 64, enrolled_at=0.0)


def _hb(node_id: str, state: int = pb.AVAILABILITY_STATE_AVAILABLE, busy: int = 0) -> pb.HeartbeatRequest:
    return pb.HeartbeatRequest(node_id=node_id, state=state,  # type: ignore[arg-type]
                               models=[pb.ModelLoad(name="m1", slots_busy=busy, slots_free=2 - busy, queue_depth=1)])


def test_stale_node_leaves_routing_before_the_sweep_and_sweep_reports_it_once() -> None:
    clock = Clock()
    reg = Registry(interval_s=5.0, patience=3, clock=clock)
    rec = _record("n1")
    reg.register(rec, register_request("n1"), clock())
    assert [r.node_id for r in reg.routes_for("m1", None)] == ["n1"]
    clock.advance(15.0)
    assert reg.routes_for("m1", None)  # exactly at the deadline: still alive
    clock.advance(0.01)
    assert reg.routes_for("m1", None) == []  # past it: gone, no sweep needed
    assert reg.status(rec, clock()) is NodeStatus.OFFLINE
    events = reg.sweep(clock())
    assert [(e.action, e.node_id) for e in events] == [("offline", "n1")]
    assert reg.sweep(clock()) == []
    # A late heartbeat brings it back (and says so).
    events = reg.heartbeat("n1", _hb("n1"), clock())
    assert events is not None and [e.action for e in events] == ["back"]
    assert reg.routes_for("m1", None)


def test_away_and_back_and_load_in_routes() -> None:
    clock = Clock()
    reg = Registry(interval_s=5.0, patience=3, clock=clock)
    reg.register(_record("n1"), register_request("n1"), clock())
    events = reg.heartbeat("n1", _hb("n1", pb.AVAILABILITY_STATE_AWAY), clock())
    assert events is not None and [e.action for e in events] == ["away"]
    assert reg.routes_for("m1", None) == []
    assert reg.model_names(None) == set()
    events = reg.heartbeat("n1", _hb("n1", busy=1), clock())
    assert events is not None and [e.action for e in events] == ["back"]
    (route,) = reg.routes_for("m1", "acme")
    assert (route.load.slots, route.load.slots_busy, route.load.slots_free, route.load.queue_depth) == (2, 1, 1, 1)
    assert (route.load.queue_limit, route.load.n_ctx) == (8, 4096)
    assert (route.input_per_mtok, route.output_per_mtok) == (0.1, 0.2)
    assert route.data_plane_secret.startswith("dp_")
    assert route.endpoint_url == "http://127.0.0.1:9/v1"


def test_org_filter_unknown_heartbeat_and_deregister() -> None:
    clock = Clock()
    reg = Registry(interval_s=5.0, patience=3, clock=clock)
    reg.register(_record("a", "acme"), register_request("a", models=("m1", "m2")), clock())
    reg.register(_record("b", "other"), register_request("b"), clock())
    assert {r.node_id for r in reg.routes_for("m1", None)} == {"a", "b"}
    assert [r.node_id for r in reg.routes_for("m1", "other")] == ["b"]
    assert reg.model_names("acme") == {"m1", "m2"}
    assert reg.model_names("other") == {"m1"}
    assert reg.heartbeat("zzz", _hb("zzz"), clock()) is None
    assert [e.action for e in reg.deregister("a", "shutdown")] == ["deregistered"]
    assert reg.model_names(None) == {"m1"}
    assert reg.heartbeat("a", _hb("a"), clock()) is None  # must register again


def test_revoked_record_is_never_routed() -> None:
    clock = Clock()
    reg = Registry(interval_s=5.0, patience=3, clock=clock)
    rec = _record("n1")
    reg.register(rec, register_request("n1"), clock())
    rec.revoked_at = clock()
    assert reg.routes_for("m1", None) == []
    assert reg.status(rec, clock()) is NodeStatus.REVOKED


def test_an_overtaken_heartbeat_does_not_roll_state_back() -> None:
    clock = Clock()
    reg = Registry(interval_s=5.0, patience=3, clock=clock)
    reg.register(_record("n1"), register_request("n1"), clock())
    away = _hb("n1", pb.AVAILABILITY_STATE_AWAY)
    away.seq = 2
    assert [e.action for e in reg.heartbeat("n1", away, clock()) or []] == ["away"]
    late = _hb("n1")
    late.seq = 1
    clock.advance(1.0)
    assert reg.heartbeat("n1", late, clock()) == []
    node = reg.get("n1")
    assert node is not None and node.state == pb.AVAILABILITY_STATE_AWAY and node.last_seen == clock()


def test_a_drained_node_stays_unrouted_whatever_it_reports_until_it_registers_again() -> None:
    clock = Clock()
    reg = Registry(interval_s=5.0, patience=3, clock=clock)
    rec = _record("n1")
    reg.register(rec, register_request("n1"), clock())
    assert reg.drain("zzz") is None  # not registered
    assert [e.action for e in reg.drain("n1") or []] == ["away"]
    assert reg.routes_for("m1", None) == [] and reg.status(rec, clock()) is NodeStatus.AWAY
    still_available = _hb("n1")  # sent before the node got the DRAIN command
    assert reg.needs_drain("n1", still_available)
    assert reg.heartbeat("n1", still_available, clock()) == []  # no "back"
    assert reg.routes_for("m1", None) == []
    draining = _hb("n1", pb.AVAILABILITY_STATE_DRAINING)
    assert reg.heartbeat("n1", draining, clock()) == [] and not reg.needs_drain("n1", draining)
    assert reg.drain("n1") == []  # again: nothing new
    reg.register(rec, register_request("n1"), clock())  # the agent's next run
    assert reg.routes_for("m1", None) and not reg.needs_drain("n1", _hb("n1"))


def test_an_org_sees_only_its_own_nodes_and_bootstrap_callers_see_all() -> None:
    clock = Clock()
    reg = Registry(interval_s=5.0, patience=3, clock=clock)
    reg.register(_record("n1", org="acme"), register_request("n1"), clock())
    reg.register(_record("n2", org="beta"), register_request("n2"), clock())
    assert [r.node_id for r in reg.routes_for("m1", "acme")] == ["n1"]
    assert [r.node_id for r in reg.routes_for("m1", "beta")] == ["n2"]
    assert reg.routes_for("m1", "gamma") == [] and reg.model_names("gamma") == set()
    assert [r.node_id for r in reg.routes_for("m1", None)] == ["n1", "n2"]
    assert reg.model_names("acme") == {"m1"}
