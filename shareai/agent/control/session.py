"""The agent's control loop: register, heartbeat, re-register, deregister.

    session = ControlSession(stub, ident, describe=..., snapshot=..., on_registered=...)
    task = asyncio.create_task(session.run(stop))   # returns when `stop` is set
    session.beat_now()                              # availability changed: report it at once
    await session.deregister("shutdown")

The agent stays simple and the coordinator decides (liveness, interval): the loop registers until
it succeeds, then beats every jittered interval with a deadline on every call. UNAVAILABLE and
other transient failures back off exponentially (capped at the interval, so a restarted
coordinator sees the node again within about one interval). A heartbeat answered with
`reregister` (the coordinator restarted and forgot us) registers again at once. A refused
identity (UNAUTHENTICATED, PERMISSION_DENIED: revoked or re-enrolled elsewhere) ends the loop with
`NodeRefused`; retrying would never help.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

import grpc

from shareai.agent.control.backoff import backoff_delay, jittered_interval
from shareai.agent.control.channel import call_metadata, connection_hint
from shareai.agent.control.identity import NodeIdentity
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.proto.fleet.v1 import fleet_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

RETRYABLE = frozenset({
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED,
})
REFUSED = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})


class ControlError(RuntimeError):
    """The control loop cannot go on; the message is for the owner."""


class NodeRefused(ControlError):
    """The coordinator refuses this node's identity (revoked, or superseded by a re-enrollment)."""


class ControlSession:
    def __init__(
        self,
        stub: pb_grpc.FleetStub,
        ident: NodeIdentity,
        *,
        describe: Callable[[], pb.RegisterRequest],
        snapshot: Callable[[], pb.HeartbeatRequest],
        on_registered: Callable[[pb.RegisterResponse], None],
        on_drain: Callable[[], None] | None = None,
        interval_s: float = 5.0,
        deadline_s: float = 5.0,
        backoff_base_s: float = 0.25,
        rng: random.Random | None = None,
        tls: bool = False,
    ) -> None:
        self._stub = stub
        self._tls = tls
        self._ident = ident
        self._metadata = call_metadata(ident)
        self._describe = describe
        self._snapshot = snapshot
        self._on_registered = on_registered
        self._on_drain = on_drain
        self.interval_s = interval_s
        self.deadline_s = deadline_s
        self._backoff_base_s = backoff_base_s
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self.registered = asyncio.Event()
        self.seq = 0
        self.registrations = 0
        self.heartbeats = 0
        self.failures = 0

    def beat_now(self) -> None:
        """Send the next heartbeat now rather than at the next tick (availability changed)."""
        self._wake.set()

    @property
    def _deadline(self) -> float:
        return min(self.deadline_s, max(0.5, self.interval_s))

    async def _register(self) -> None:
        req = self._describe()
        req.node_id = self._ident.node_id
        resp: pb.RegisterResponse = await self._stub.Register(req, metadata=self._metadata, timeout=self._deadline)
        if resp.heartbeat_interval_s > 0:
            self.interval_s = resp.heartbeat_interval_s
        self.registrations += 1
        self._on_registered(resp)
        self.registered.set()
        log.info("registered with the coordinator as %s (heartbeat every %.3gs)", self._ident.node_id, self.interval_s)

    async def _heartbeat(self) -> pb.HeartbeatResponse:
        req = self._snapshot()
        self.seq += 1
        req.node_id = self._ident.node_id
        req.seq = self.seq
        resp: pb.HeartbeatResponse = await self._stub.Heartbeat(req, metadata=self._metadata, timeout=self._deadline)
        self.heartbeats += 1
        return resp

    def _apply(self, resp: pb.HeartbeatResponse) -> None:
        if resp.heartbeat_interval_s > 0:
            self.interval_s = resp.heartbeat_interval_s
        for cmd in resp.commands:
            if cmd.kind == pb.Command.SET_INTERVAL and cmd.interval_s > 0:
                self.interval_s = cmd.interval_s
            elif cmd.kind == pb.Command.DRAIN and self._on_drain is not None:
                self._on_drain()

    async def _pause(self, stop: asyncio.Event, delay_s: float) -> bool:
        """Wait `delay_s`, or less when `stop` or `beat_now` fires; True when stopping."""
        if delay_s > 0 and not self._wake.is_set():
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            try:
                await asyncio.wait(waits, timeout=delay_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
                for w in waits:
                    with contextlib.suppress(asyncio.CancelledError):
                        await w
        self._wake.clear()
        return stop.is_set()

    async def run(self, stop: asyncio.Event) -> None:
        """Register, then heartbeat until `stop` is set. Raises `ControlError` when it cannot go on."""
        need_register = True
        attempt = 0
        delay = 0.0
        while not await self._pause(stop, delay):
            try:
                if need_register:
                    self.registered.clear()
                    await self._register()
                    need_register = False
                    # Beat once right away: the coordinator gets live load without waiting an interval.
                    delay = 0.0
                else:
                    resp = await self._heartbeat()
                    if resp.reregister:
                        log.info("the coordinator asks us to register again (it restarted)")
                        need_register = True
                        delay = 0.0
                    else:
                        self._apply(resp)
                        delay = jittered_interval(self.interval_s, self._rng)
                if attempt:
                    log.info("control plane reachable again after %d failed call(s)", attempt)
                attempt = 0
            except grpc.aio.AioRpcError as err:
                code = err.code()
                if code in REFUSED:
                    raise NodeRefused(f"the coordinator refused this node: {err.details()}") from None
                if code not in RETRYABLE:
                    raise ControlError(f"the coordinator rejected our call: {code.name}: {err.details()}") from None
                self.failures += 1
                attempt += 1
                delay = backoff_delay(attempt, self._rng, base_s=self._backoff_base_s,
                                      cap_s=max(self._backoff_base_s, self.interval_s))
                if attempt == 1 or attempt % 10 == 0:
                    details = err.details() or ""
                    log.warning("control plane call failed (%s: %s); retry %d in %.2fs",
                                code.name, connection_hint(details, tls=self._tls) or details, attempt, delay)

    async def deregister(self, reason: str, timeout_s: float = 2.0) -> bool:
        """Best effort on shutdown: tell the coordinator to drop us from routing now."""
        try:
            await self._stub.Deregister(pb.DeregisterRequest(node_id=self._ident.node_id, reason=reason),
                                        metadata=self._metadata, timeout=timeout_s)
        except grpc.aio.AioRpcError as err:
            log.warning("deregister failed (%s); the coordinator will notice by itself", err.code().name)
            return False
        return True
