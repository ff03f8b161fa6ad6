"""The live fleet: registered nodes, their load and availability, held in memory.

    registry = Registry(interval_s=5, patience=3, clock=time.time)
    node, events = registry.register(record, register_request, now)
    events = registry.heartbeat(node_id, heartbeat_request, now)   # None: unknown -> reregister
    events = registry.sweep(now)                                   # nodes gone stale -> "offline"
    registry.drain(node_id)                                        # admin: out of routing, DRAIN sent
    routes = registry.routes_for("gemma-3-270m", org="acme")       # the gateway's NodeDirectory

Nothing here does I/O or reads the clock except `routes_for`/`model_names`, which implement the
gateway's clock-less `NodeDirectory` protocol with the injected clock. They look nodes up in a
`RouteIndex` by model and org, so a routing decision costs the nodes serving that model for that
org, not the size of the fleet; liveness, availability and revocation are still checked exactly.
Every state change returns `LifecycleEvent`s; the subsystem writes them to the audit log. A
heartbeat only stores the request it got (no copying), so the hot path stays a dict lookup and a
few attribute writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.json_format import MessageToDict

from shareai.coordinator.fleet.liveness import NodeStatus, is_alive, status_of
from shareai.coordinator.fleet.nodes import NodeRecord
from shareai.coordinator.fleet.route_index import RouteIndex
from shareai.coordinator.interfaces import NodeModelLoad, NodeRoute
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.wire.capabilities import ENDPOINTS as FEATURE_ENDPOINTS
from shareai.wire.capabilities import LEGACY_FEATURES
from shareai.wire.tokens import new_secret

AVAILABLE = pb.AVAILABILITY_STATE_AVAILABLE
DRAINING = pb.AVAILABILITY_STATE_DRAINING
DATA_PLANE_PREFIX = "dp_"
MAX_FEATURES = 256  # per model and endpoint (an agent advertises about 40)
MAX_FEATURE_CHARS = 100

STATE_NAMES: dict[int, str] = {
    pb.AVAILABILITY_STATE_UNSPECIFIED: "unspecified",
    pb.AVAILABILITY_STATE_AVAILABLE: "available",
    pb.AVAILABILITY_STATE_AWAY: "away",
    pb.AVAILABILITY_STATE_DRAINING: "draining",
}
MODE_NAMES: dict[int, str] = {
    pb.AVAILABILITY_MODE_UNSPECIFIED: "always-on",
    pb.AVAILABILITY_MODE_ALWAYS_ON: "always-on",
    pb.AVAILABILITY_MODE_IDLE: "idle",
}


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    action: str  # registered | offline | away | back | deregistered (enrolled/revoked come from the subsystem)
    node_id: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelSlots:
    name: str
    slots: int
    n_ctx: int
    queue_limit: int
    endpoints: tuple[str, ...]
    # Request features accepted, per endpoint; `LEGACY_FEATURES` when the agent advertised none.
    features: Mapping[str, frozenset[str]] = field(default_factory=lambda: LEGACY_FEATURES)
    legacy: bool = True


def model_slots(m: pb.ModelInfo) -> ModelSlots:
    """A registered model; an agent from before capabilities (no `features`) gets the legacy set,
    what its validator accepted, so it keeps receiving the plain requests it always served."""
    if not m.features:
        return ModelSlots(m.name, m.slots, m.n_ctx, m.queue_limit, tuple(m.endpoints))
    # Bounded, so a node cannot make the coordinator hold an arbitrarily large set; what is cut only
    # makes the node receive less (a feature it does not list is one it is not sent).
    features = {endpoint: frozenset(n for n in list(listed.names)[:MAX_FEATURES] if len(n) <= MAX_FEATURE_CHARS)
                for endpoint, listed in m.features.items() if endpoint in FEATURE_ENDPOINTS}
    return ModelSlots(m.name, m.slots, m.n_ctx, m.queue_limit, tuple(m.endpoints), features, legacy=False)


@dataclass(slots=True)
class LiveNode:
    record: NodeRecord
    endpoint_url: str
    data_plane_secret: str
    mode: str
    state: int
    models: dict[str, ModelSlots]
    price_input: float | None
    price_output: float | None
    registered_at: float
    last_seen: float
    alive: bool = True  # as of the last heartbeat or sweep; `is_alive` is the authority
    last_hb: pb.HeartbeatRequest | None = None

    @property
    def available(self) -> bool:
        return self.state == AVAILABLE

    def model_load(self, name: str) -> NodeModelLoad:
        slots = self.models[name]
        busy, free, queue = 0, slots.slots, 0
        if self.last_hb is not None:
            for m in self.last_hb.models:
                if m.name == name:
                    busy, free, queue = m.slots_busy, m.slots_free, m.queue_depth
                    break
        return NodeModelLoad(slots=slots.slots, slots_busy=busy, slots_free=free, queue_depth=queue,
                             queue_limit=slots.queue_limit, n_ctx=slots.n_ctx)

    @property
    def power_w(self) -> float | None:
        hb = self.last_hb
        return hb.power_w if hb is not None and hb.has_power else None


def registration_summary(req: pb.RegisterRequest) -> dict[str, Any]:
    """What we persist of a registration (for listings while offline); never the secrets."""
    return {
        "endpoint_url": req.endpoint_url,
        "mode": MODE_NAMES.get(req.mode, "always-on"),
        "models": [{"name": m.name, "slots": m.slots, "n_ctx": m.n_ctx, "queue_limit": m.queue_limit}
                   for m in req.models],
        "price": ({"input_per_mtok": req.price.input_per_mtok, "output_per_mtok": req.price.output_per_mtok}
                  if req.price.set else None),
    }


def host_summary(host: pb.HostInfo) -> dict[str, Any]:
    return MessageToDict(host, preserving_proto_field_name=True)


class Registry:
    def __init__(self, *, interval_s: float, patience: int, clock: Callable[[], float] = time.time) -> None:
        self.interval_s = interval_s
        self.patience = patience
        self._clock = clock
        self._nodes: dict[str, LiveNode] = {}
        self.index = RouteIndex()
        # Nodes the admin asked to drain, for this registration: whatever they report, they stay
        # out of routing, and each heartbeat answer carries DRAIN until they report DRAINING.
        self.draining: set[str] = set()

    def __len__(self) -> int:
        return len(self._nodes)

    def get(self, node_id: str) -> LiveNode | None:
        return self._nodes.get(node_id)

    def nodes(self) -> list[LiveNode]:
        return list(self._nodes.values())

    def status(self, record: NodeRecord, now: float) -> NodeStatus:
        live = self._nodes.get(record.id)
        return status_of(
            revoked=record.revoked,
            registered=live is not None,
            alive=live is not None and is_alive(live.last_seen, now, self.interval_s, self.patience),
            available=live is not None and live.available,
        )

    # -- control-plane calls -------------------------------------------------------------------

    def register(
        self, record: NodeRecord, req: pb.RegisterRequest, now: float
    ) -> tuple[LiveNode, list[LifecycleEvent]]:
        # A new registration is a new run of the agent (restarted after maintenance): a drain asked
        # of the previous run does not carry over; an agent still draining registers as DRAINING.
        self.draining.discard(record.id)
        state = req.state or AVAILABLE
        node = LiveNode(
            record=record,
            endpoint_url=req.endpoint_url,
            data_plane_secret=new_secret(DATA_PLANE_PREFIX),
            mode=MODE_NAMES.get(req.mode, "always-on"),
            state=state,
            models={m.name: model_slots(m) for m in req.models},
            price_input=req.price.input_per_mtok if req.price.set else None,
            price_output=req.price.output_per_mtok if req.price.set else None,
            registered_at=now,
            last_seen=now,
        )
        self._nodes[record.id] = node
        self.index.add(record.id, org=record.org, models=node.models)
        event = LifecycleEvent("registered", record.id, {
            "endpoint_url": node.endpoint_url, "models": sorted(node.models), "mode": node.mode,
            "state": STATE_NAMES.get(state, "unspecified"),
        })
        return node, [event]

    def heartbeat(self, node_id: str, req: pb.HeartbeatRequest, now: float) -> list[LifecycleEvent] | None:
        """Record a heartbeat; None when the node is not registered here (it must Register)."""
        node = self._nodes.get(node_id)
        if node is None:
            return None
        events: list[LifecycleEvent] = []
        last = node.last_hb
        if last is not None and 0 < req.seq <= last.seq:
            # Overtaken by a newer heartbeat (retries, reordering): proof of life, but stale state.
            node.last_seen = max(node.last_seen, now)
            return events
        if not node.alive:
            node.alive = True
            events.append(LifecycleEvent("back", node_id, {"from": "offline"}))
        state = req.state or AVAILABLE
        if node_id in self.draining:
            state = DRAINING
        if state != node.state:
            if state == AVAILABLE:
                events.append(LifecycleEvent("back", node_id, {"from": STATE_NAMES.get(node.state, "unspecified")}))
            elif node.state == AVAILABLE:
                events.append(LifecycleEvent("away", node_id, {"state": STATE_NAMES.get(state, "unspecified")}))
            node.state = state
        node.last_seen = now
        node.last_hb = req
        return events

    def drain(self, node_id: str) -> list[LifecycleEvent] | None:
        """Take a registered node out of routing now and ask it to drain; None if not registered."""
        node = self._nodes.get(node_id)
        if node is None:
            return None
        self.draining.add(node_id)
        if node.state == DRAINING:
            return []
        before, node.state = node.state, DRAINING
        if before != AVAILABLE:
            return []
        return [LifecycleEvent("away", node_id, {"state": "draining"})]

    def needs_drain(self, node_id: str, req: pb.HeartbeatRequest) -> bool:
        """Whether this heartbeat's answer must carry DRAIN (asked, and not yet draining)."""
        return node_id in self.draining and req.state != DRAINING

    def deregister(self, node_id: str, reason: str) -> list[LifecycleEvent]:
        if self.drop(node_id) is None:
            return []
        return [LifecycleEvent("deregistered", node_id, {"reason": reason})]

    def drop(self, node_id: str) -> LiveNode | None:
        """Remove a node from the live fleet at once (deregistration, revocation)."""
        self.index.remove(node_id)
        self.draining.discard(node_id)
        return self._nodes.pop(node_id, None)

    def sweep(self, now: float) -> list[LifecycleEvent]:
        """Turn nodes whose heartbeats stopped into "offline" events (routing already ignores them)."""
        events = []
        interval, patience = self.interval_s, self.patience
        for node in self._nodes.values():
            if node.alive and not is_alive(node.last_seen, now, interval, patience):
                node.alive = False
                events.append(LifecycleEvent("offline", node.record.id, {
                    "last_seen": node.last_seen, "silent_s": round(now - node.last_seen, 3),
                }))
        return events

    # -- NodeDirectory ---------------------------------------------------------------------------

    def routes_for(self, model: str, org: str | None) -> list[NodeRoute]:
        now = self._clock()
        routes = []
        for node_id in self.index.ids(model, org):
            node = self._nodes[node_id]
            if not self._routable(node, org, now):
                continue
            routes.append(NodeRoute(
                node_id=node_id, name=node.record.name, org=node.record.org, endpoint_url=node.endpoint_url,
                data_plane_secret=node.data_plane_secret, model=model, load=node.model_load(model),
                input_per_mtok=node.price_input, output_per_mtok=node.price_output, power_w=node.power_w,
                features=node.models[model].features,
            ))
        routes.sort(key=lambda r: r.node_id)
        return routes

    def model_names(self, org: str | None) -> set[str]:
        now = self._clock()
        return {name for name, ids in self.index.models(org).items()
                if any(self._routable(self._nodes[i], org, now) for i in ids)}

    def knows_node(self, node_id: str, org: str | None) -> bool:
        node = self._nodes.get(node_id)
        return node is not None and not node.record.revoked and (org is None or node.record.org == org)

    def _routable(self, node: LiveNode, org: str | None, now: float) -> bool:
        return (
            node.available
            and not node.record.revoked
            and (org is None or node.record.org == org)
            and is_alive(node.last_seen, now, self.interval_s, self.patience)
        )
