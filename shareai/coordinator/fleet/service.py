"""The fleet's behaviour, independent of gRPC: enrollment, registration, heartbeats, revocation.

    fleet = FleetService(store, tokens, registry, audit, clock=time.time)
    fleet.start()                     # the liveness sweeper
    resp = await fleet.enroll(request)
    await fleet.close()

The servicer (`servicer.py`) only translates between gRPC and these calls; admin routes call the
same methods. Each lifecycle transition is written to the audit log here, in one place, with the
actor that caused it ("node:<id>" for the node's own calls, "coordinator" for liveness, the admin
for revocation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from shareai.coordinator.audit import AuditLog
from shareai.coordinator.fleet.errors import NodeRevoked
from shareai.coordinator.fleet.liveness import sweep_period_s
from shareai.coordinator.fleet.nodes import NodeRecord, NodeStore
from shareai.coordinator.fleet.registry import LifecycleEvent, Registry, host_summary, registration_summary
from shareai.coordinator.fleet.tokens import TokenStore
from shareai.proto.fleet.v1 import fleet_pb2 as pb

log = logging.getLogger(__name__)


class FleetService:
    def __init__(
        self,
        store: NodeStore,
        tokens: TokenStore,
        registry: Registry,
        audit: AuditLog,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.registry = registry
        self.audit = audit
        self.clock = clock
        self._hb_response = pb.HeartbeatResponse(heartbeat_interval_s=registry.interval_s)
        self._reregister = pb.HeartbeatResponse(heartbeat_interval_s=registry.interval_s, reregister=True)
        self._sweeper: asyncio.Task[None] | None = None
        self.heartbeats = 0  # served since start (the benchmark reads it)

    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop(), name="fleet-sweeper")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.store.close()

    # -- control plane ---------------------------------------------------------------------------

    async def enroll(self, req: pb.EnrollRequest) -> pb.EnrollResponse:
        now = self.clock()
        name = req.name or req.host.hostname or "node"
        record, secret, again = await self.store.enroll(
            req.token, name=name, host=host_summary(req.host), node_id=req.node_id or None, now=now
        )
        if again:
            # The old secret is void: whatever was registered under it must register again.
            self.registry.drop(record.id)
        self.audit.record(actor=f"node:{record.id}", action="node.enrolled", target=f"node:{record.id}",
                          name=name, org=record.org, reenrolled=again)
        log.info("node %s (%s) enrolled in org %s%s", record.id, name, record.org, " again" if again else "")
        return pb.EnrollResponse(node_id=record.id, node_secret=secret, org=record.org)

    def register(self, record: NodeRecord, req: pb.RegisterRequest) -> pb.RegisterResponse:
        now = self.clock()
        if req.name:
            record.name = req.name
        record.host = host_summary(req.host)
        record.registration = registration_summary(req)
        node, events = self.registry.register(record, req, now)
        self._apply(events, now)
        return pb.RegisterResponse(
            heartbeat_interval_s=self.registry.interval_s, patience=self.registry.patience,
            data_plane_secret=node.data_plane_secret, org=record.org,
        )

    def heartbeat(self, record: NodeRecord, req: pb.HeartbeatRequest) -> pb.HeartbeatResponse:
        now = self.clock()
        self.heartbeats += 1
        events = self.registry.heartbeat(record.id, req, now)
        if events is None:
            return self._reregister
        if events:
            self._apply(events, now)
        return self._hb_response

    def deregister(self, record: NodeRecord, reason: str) -> None:
        now = self.clock()
        node = self.registry.get(record.id)
        if node is not None:
            record.last_seen = now
        self._apply(self.registry.deregister(record.id, reason or "shutdown"), now)

    # -- admin -----------------------------------------------------------------------------------

    async def revoke(self, node_id: str, actor: str) -> NodeRecord:
        record = self.store.require(node_id)
        if record.revoked:
            raise NodeRevoked(f"node {node_id} is already revoked")
        now = self.clock()
        self.registry.drop(node_id)  # out of routing before anything awaits
        record = await self.store.revoke(node_id, now)
        self.audit.record(actor=actor, action="node.revoked", target=f"node:{node_id}", name=record.name)
        log.info("node %s revoked by %s", node_id, actor)
        return record

    def describe(self, record: NodeRecord) -> dict[str, Any]:
        from shareai.coordinator.fleet.views import node_view

        return node_view(record, self.registry.get(record.id), self.registry, self.clock())

    # -- liveness --------------------------------------------------------------------------------

    def sweep(self) -> list[LifecycleEvent]:
        now = self.clock()
        events = self.registry.sweep(now)
        self._apply(events, now)
        return events

    async def _sweep_loop(self) -> None:
        period = sweep_period_s(self.registry.interval_s, self.registry.patience)
        while True:
            await asyncio.sleep(period)
            try:
                self.sweep()
            except Exception:  # a bug here must not end liveness for good: log, keep sweeping
                log.exception("fleet sweep failed")

    def _apply(self, events: list[LifecycleEvent], now: float) -> None:
        for ev in events:
            record = self.store.get(ev.node_id)
            if record is None:
                continue
            node = self.registry.get(ev.node_id)
            if node is not None:
                record.last_seen = node.last_seen
            record.last_status = self.registry.status(record, now).value
            self.store.save_state(record)
            actor = "coordinator" if ev.action == "offline" else f"node:{ev.node_id}"
            self.audit.record(actor=actor, action=f"node.{ev.action}", target=f"node:{ev.node_id}", **ev.details)
            log.info("node %s %s %s", ev.node_id, ev.action, ev.details)
