"""Route health, in one place: what the gateway knows about each target's fitness to serve.

    health.usable(target, now)          may an unpinned request try it? (schedules a provider probe)
    health.state(route)                 closed | open | half-open ("no breaker yet" reads closed)
    health.record_success(route) / record_failure(route)
    health.key_for(target, exclude)     the provider's current API key (401/429 park a key)
    health.fault(route, enabled)        the admin's fault switch (`POST /admin/v1/faults`)
    health.stats                        latency/TTFT EWMA and in-flight per route (the policies read it)

It owns the per-target circuit breakers, statistics, key pools and fault switch, and the background
loop that probes providers whose cooldown is over (`GET {base_url}/models`, no tokens spent), so a
circuit closes again without waiting for traffic. The forwarder, router, API and admin routes ask
it; none of them holds these tables.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import aiohttp

from shareai.coordinator.gateway.breaker import CLOSED, HALF_OPEN, Breaker
from shareai.coordinator.gateway.keypool import KeyPool
from shareai.coordinator.gateway.metrics import GatewayMetrics
from shareai.coordinator.gateway.options import GatewayOptions
from shareai.coordinator.gateway.stats import StatsBook
from shareai.coordinator.gateway.targets import NODE, Target

log = logging.getLogger(__name__)


class InjectedFault(aiohttp.ClientConnectionError):
    """Raised where the connection would be made, so the real failover path handles it."""


class RouteHealth:
    def __init__(self, settings: GatewayOptions) -> None:
        self.settings = settings
        self.stats = StatsBook()
        self._breakers: dict[str, Breaker] = {}
        self._keypools: dict[str, KeyPool] = {}
        # The fault switch: the gateway's own calls to a faulted route fail at the transport, as if
        # the provider were unreachable. The acceptance check uses it to prove failover on a live
        # deployment; the hit counts tell it that the faulted route really was tried.
        self._fault_hits: dict[str, int] = {}
        self._probing: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._metrics: GatewayMetrics | None = None
        self._stop = asyncio.Event()
        self._prober: asyncio.Task[None] | None = None

    # -- circuit breakers -----------------------------------------------------------------------

    def _breaker(self, route: str) -> Breaker:
        b = self._breakers.get(route)
        if b is None:
            s = self.settings
            b = self._breakers[route] = Breaker(threshold=s.breaker_threshold, cooldown_s=s.breaker_cooldown_s,
                                                max_cooldown_s=s.breaker_max_cooldown_s)
        return b

    def state(self, route: str, now: float | None = None) -> str:
        b = self._breakers.get(route)
        if b is None:
            return CLOSED
        return b.state(self.settings.clock() if now is None else now)

    def open_circuits(self) -> int:
        now = self.settings.clock()
        return sum(1 for b in self._breakers.values() if b.state(now) != CLOSED)

    def usable(self, target: Target, now: float) -> bool:
        """Whether an unpinned request may try `target`: a closed circuit, or a half-open node (it
        heartbeats, so a trial request is the probe). A half-open provider is probed in the
        background instead and rejoins when the probe succeeds."""
        state = self.state(target.route, now)
        if state == CLOSED or (state == HALF_OPEN and target.kind == NODE):
            return True
        if state == HALF_OPEN:
            self.schedule_probe(target)
        return False

    def record_success(self, route: str) -> None:
        b = self._breakers.get(route)
        if b is not None:  # a route without a breaker has nothing to reset
            b.record_success(self.settings.clock())

    def record_failure(self, route: str) -> None:
        self._breaker(route).record_failure(self.settings.clock())

    # -- statistics -----------------------------------------------------------------------------

    def inflight(self) -> int:
        return self.stats.total_inflight()

    # -- provider keys --------------------------------------------------------------------------

    def _pool(self, target: Target) -> KeyPool | None:
        if target.provider is None:
            return None
        pool = self._keypools.get(target.route)
        if pool is None:
            pool = self._keypools[target.route] = KeyPool(target.provider.api_keys)
        return pool

    def key_for(self, target: Target, exclude: frozenset[str] = frozenset()) -> str | None:
        """The credential for one attempt: a node's data-plane secret, a provider's current key."""
        if target.node is not None:
            return target.node.data_plane_secret
        pool = self._pool(target)
        return pool.pick(self.settings.clock(), exclude) if pool is not None else None

    def refuse_key(self, target: Target, key: str, status: int, retry_after: float | None) -> int:
        """Park a key the provider refused (401) or throttled (429); returns the pool's size."""
        pool = self._pool(target)
        if pool is None:
            return 0
        pool.penalise(key, status, self.settings.clock(), retry_after)
        return len(pool)

    # -- fault switch ---------------------------------------------------------------------------

    def fault(self, route: str, enabled: bool) -> int:
        """Switch the fault on or off for `route`; returns the hits it had."""
        hits = self._fault_hits.get(route, 0)
        if enabled:
            self._fault_hits.setdefault(route, 0)
        else:
            self._fault_hits.pop(route, None)
        return hits

    def faults(self) -> dict[str, int]:
        return dict(self._fault_hits)

    def faulted(self, route: str) -> bool:
        return route in self._fault_hits

    def check_fault(self, route: str) -> None:
        if route in self._fault_hits:
            self._fault_hits[route] += 1
            raise InjectedFault(f"fault injected by the admin for {route}")

    # -- probes ---------------------------------------------------------------------------------

    def start(self, session: aiohttp.ClientSession, metrics: GatewayMetrics, probe_targets: Iterable[Target]) -> None:
        """Begin the background probe loop over `probe_targets` (one per provider)."""
        self._session = session
        self._metrics = metrics
        targets = list(probe_targets)
        self._prober = asyncio.get_running_loop().create_task(self._probe_loop(targets), name="gateway-prober")

    async def _probe_loop(self, targets: list[Target]) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.settings.probe_interval_s)
            except TimeoutError:
                pass
            if not self._stop.is_set():
                self.probe_due(targets)

    def probe_due(self, targets: Iterable[Target]) -> int:
        """Probe every provider whose cooldown is over; returns how many probes were started."""
        now = self.settings.clock()
        started = 0
        for target in targets:
            if target.route not in self._probing and self.state(target.route, now) == HALF_OPEN:
                self.schedule_probe(target)
                started += 1
        return started

    def schedule_probe(self, target: Target) -> None:
        if target.route in self._probing or self._session is None:
            return
        task = asyncio.get_running_loop().create_task(self._probe(target, self._session),
                                                      name=f"probe-{target.route}")
        self._probing[target.route] = task
        task.add_done_callback(lambda _: self._probing.pop(target.route, None))

    async def _probe(self, target: Target, session: aiohttp.ClientSession) -> None:
        key = self.key_for(target)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            self.check_fault(target.route)
            async with asyncio.timeout(self.settings.probe_timeout_s):
                async with session.get(target.base_url + "/models", headers=headers) as resp:
                    await resp.read()
                    ok = resp.status < 300
        except (TimeoutError, aiohttp.ClientError, OSError):
            ok = False
        if ok:
            self.record_success(target.route)
            log.info("provider %s is back (probe succeeded); circuit closed", target.route)
        else:
            self.record_failure(target.route)
        if self._metrics is not None:
            self._metrics.attempts.inc(target.route, "probe_ok" if ok else "probe_failed")

    async def close(self) -> None:
        self._stop.set()
        if self._prober is not None:
            await self._prober
            self._prober = None
        tasks = list(self._probing.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
