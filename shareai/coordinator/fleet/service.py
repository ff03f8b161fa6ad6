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
from shareai.coordinator.fleet.errors import NodeNotRegistered, NodeRevoked
from shareai.coordinator.fleet.liveness import sweep_period_s
from shareai.coordinator.fleet.nodes import NodeRecord, NodeStore
from shareai.coordinator.fleet.registry import LifecycleEvent, Registry, host_summary, registration_summary
from shareai.coordinator.fleet.tokens import TokenStore
from shareai.proto.fleet.v1 import fleet_pb2 as pb

log = logging.getLogger(__name__)

# How often the sweep persists the nodes' last-seen times (one cheap batch, off the heartbeat
# path): after a crash, a listing's "last seen" is at most this much older than the truth.
PERSIST_SEEN_S = 10.0


class FleetService:
    def __init__(
        self,
        store: NodeStore,
        tokens: TokenStore,
        registry: Registry,
        audit: AuditLog,
        *,
        clock: Callable[[], float] = time.time,
        persist_seen_s: float = PERSIST_SEEN_S,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.registry = registry
        self.audit = audit
        self.clock = clock
        self._hb_response = pb.HeartbeatResponse(heartbeat_interval_s=registry.interval_s)
        self._reregister = pb.HeartbeatResponse(heartbeat_interval_s=registry.interval_s, reregister=True)
        self._drain = pb.HeartbeatResponse(heartbeat_interval_s=registry.interval_s,
                                           commands=[pb.Command(kind=pb.Command.DRAIN)])
        self.persist_seen_s = persist_seen_s
        self._seen_persisted_at = clock()
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
        self.persist_seen(force=True)  # a graceful stop leaves truthful last-seen times behind
        await self.store.close()

    # -- control plane ---------------------------------------------------------------------------

    async def enroll(self, req: pb.EnrollRequest) -> pb.EnrollResponse:
        now = self.clock()
        name = req.name or req.host.hostname or "node"
        record, secret, again = await self.store.enroll(
            req.token, name=name, host=host_summary(req.host), node_id=req.node_id or None, now=now,
            node_secret=req.node_secret or None,
        )
        if again:
            # The old secret is void: whatever was registered under it must register again.
            self.registry.drop(record.id)
        # An id asked for but not kept (no proof of its secret, another org, revoked) is in the audit
        # log, so an admin can see both a lost identity and an attempt to take one over.
        not_kept = {"asked_id": req.node_id} if req.node_id and not again else {}
        self.audit.record(actor=f"node:{record.id}", action="node.enrolled", target=f"node:{record.id}",
                          name=name, org=record.org, reenrolled=again, **not_kept)
        log.info("node %s (%s) enrolled in org %s%s%s", record.id, name, record.org, " again" if again else "",
                 f" (asked for {req.node_id}, not kept)" if not_kept else "")
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
        if self.registry.draining and self.registry.needs_drain(record.id, req):
            return self._drain
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

    async def retire_org(self, actor: str, org: str) -> dict[str, list[str]]:
        """An org is being deleted: its nodes leave routing and are revoked, its enrollment tokens are
        revoked (a new org of the same name inherits neither). Idempotent; each revocation audited."""
        now = self.clock()
        for record in self.store.all():
            if record.org == org:
                self.registry.drop(record.id)  # out of routing before anything awaits
        nodes = await self.store.revoke_org(org, now)
        for record in nodes:
            self.audit.record(actor=actor, action="node.revoked", target=f"node:{record.id}", name=record.name,
                              reason="org deleted")
        token_ids = await self.tokens.revoke_org(org, now)
        for token_id in token_ids:
            self.audit.record(actor=actor, action="token.revoke", target=f"org:{org}", token_id=token_id,
                              reason="org deleted")
        if nodes or token_ids:
            log.info("org %s deleted by %s: revoked %d node(s) and %d token(s)", org, actor, len(nodes), len(token_ids))
        return {"revoked_nodes": [r.id for r in nodes], "revoked_tokens": token_ids}

    def drain(self, node_id: str, actor: str) -> NodeRecord:
        """Out of routing at once; the node's next heartbeat answer tells it to drain (no new work,
        in-flight requests finish). Lasts until the agent registers again (its next start)."""
        record = self.store.require(node_id)
        if record.revoked:
            raise NodeRevoked(f"node {node_id} is revoked")
        now = self.clock()
        already = node_id in self.registry.draining
        events = self.registry.drain(node_id)
        if events is None:
            raise NodeNotRegistered(f"node {node_id} is not registered with this coordinator (it is offline)")
        if not already:
            self.audit.record(actor=actor, action="node.drain", target=f"node:{node_id}", name=record.name)
            log.info("node %s asked to drain by %s", node_id, actor)
        self._apply(events, now, actor=actor)
        return record

    def describe(self, record: NodeRecord) -> dict[str, Any]:
        from shareai.coordinator.fleet.views import node_view

        return node_view(record, self.registry.get(record.id), self.registry, self.clock())

    # -- liveness --------------------------------------------------------------------------------

    def sweep(self) -> list[LifecycleEvent]:
        now = self.clock()
        events = self.registry.sweep(now)
        self._apply(events, now)
        if now - self._seen_persisted_at >= self.persist_seen_s:
            self.persist_seen()
        return events

    def persist_seen(self, *, force: bool = False) -> int:
        """Queue the last-seen time of every node heard from since the last call; returns how many.
        Called by the sweep every `persist_seen_s` (heartbeats themselves never write)."""
        self._seen_persisted_at = self.clock()
        queued = 0
        for node in self.registry.nodes():
            record = node.record
            if force or record.last_seen is None or node.last_seen > record.last_seen:
                record.last_seen = node.last_seen
                self.store.save_seen(record.id, node.last_seen)
                queued += 1
        return queued

    async def _sweep_loop(self) -> None:
        period = sweep_period_s(self.registry.interval_s, self.registry.patience)
        while True:
            await asyncio.sleep(period)
            try:
                self.sweep()
            except Exception:  # a bug here must not end liveness for good: log, keep sweeping
                log.exception("fleet sweep failed")

    def _apply(self, events: list[LifecycleEvent], now: float, actor: str | None = None) -> None:
        for ev in events:
            record = self.store.get(ev.node_id)
            if record is None:
                continue
            node = self.registry.get(ev.node_id)
            if node is not None:
                record.last_seen = node.last_seen
            record.last_status = self.registry.status(record, now).value
            self.store.save_state(record)
            who = actor or ("coordinator" if ev.action == "offline" else f"node:{ev.node_id}")
            self.audit.record(actor=who, action=f"node.{ev.action}", target=f"node:{ev.node_id}", **ev.details)
            log.info("node %s %s %s", ev.node_id, ev.action, ev.details)
