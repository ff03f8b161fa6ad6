"""The gateway as a coordinator subsystem: wires the API to the fleet and governance, or fallbacks.

    Coordinator(config)                                   # default_subsystems() includes the gateway
    Coordinator(config, subsystems=[GatewaySubsystem(directory=my_directory)])   # tests

At start it looks for `coord.subsystem("fleet")` (its `directory` attribute, or the subsystem
itself, as a `NodeDirectory`) and `coord.subsystem("governance")` (its `authenticator` / `governor`
attributes, or itself); explicitly passed ones win; missing ones fall back to `fallbacks`.
It owns the one upstream `aiohttp.ClientSession` and serves Prometheus `/metrics` (to the admin key
or the `[server] metrics_token`, see `metrics_access.py`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from shareai.coordinator.gateway.admin_routes import GatewayAdmin
from shareai.coordinator.gateway.api import GatewayAPI
from shareai.coordinator.gateway.breaker import CLOSED, Breaker
from shareai.coordinator.gateway.fallbacks import EmptyDirectory, NoopGovernor, StaticKeyAuthenticator
from shareai.coordinator.gateway.forward import Forwarder
from shareai.coordinator.gateway.keypool import KeyPool
from shareai.coordinator.gateway.metrics import GatewayMetrics, Registry
from shareai.coordinator.gateway.metrics_access import MetricsAccess
from shareai.coordinator.gateway.router import Router
from shareai.coordinator.gateway.settings import GatewaySettings
from shareai.coordinator.gateway.stats import StatsBook
from shareai.coordinator.gateway.targets import Catalog
from shareai.coordinator.interfaces import Authenticator, Governor, NodeDirectory
from shareai.coordinator.store.db import Schema

if TYPE_CHECKING:
    from shareai.coordinator.app import Coordinator

log = logging.getLogger(__name__)


def _find(coord: Coordinator, name: str) -> Any:
    try:
        return coord.subsystem(name)
    except KeyError:
        return None


def _pick(sub: Any, attr: str, method: str) -> Any:
    if sub is None:
        return None
    candidate = getattr(sub, attr, None)
    if candidate is not None and hasattr(candidate, method):
        return candidate
    return sub if hasattr(sub, method) else None


class GatewaySubsystem:
    name = "gateway"
    schemas: tuple[Schema, ...] = ()

    def __init__(self, *, directory: NodeDirectory | None = None, authenticator: Authenticator | None = None,
                 governor: Governor | None = None, settings: GatewaySettings | None = None) -> None:
        # No explicit settings: the `[routing]` table of the config fills them in at start.
        self._settings_from_config = settings is None
        self.settings = settings or GatewaySettings()
        self.directory = directory
        self.authenticator = authenticator
        self.governor = governor
        self.registry = Registry()
        self.stats = StatsBook()
        self.breakers: dict[str, Breaker] = {}
        self.keypools: dict[str, KeyPool] = {}
        self.session: aiohttp.ClientSession | None = None
        self._stop = asyncio.Event()
        self._prober: asyncio.Task[None] | None = None
        self.router: Router | None = None
        self.forwarder: Forwarder | None = None
        self.metrics = GatewayMetrics(self.registry, self.open_circuits, self._inflight)
        self._metrics_access: MetricsAccess | None = None

    async def start(self, coord: Coordinator) -> None:
        if self._settings_from_config:
            cfg = coord.config
            self.settings.breaker_threshold = cfg.breaker_threshold
            self.settings.breaker_cooldown_s = cfg.breaker_cooldown_s
            self.settings.node_timeout_s = cfg.node_timeout_s
        fleet = _find(coord, "fleet")
        governance = _find(coord, "governance")
        # `is None`, never `or`: a registry with no nodes may well be falsy (it has a length).
        if self.directory is None:
            self.directory = _pick(fleet, "directory", "routes_for")
        if self.directory is None:
            self.directory = EmptyDirectory()
        if self.authenticator is None:
            self.authenticator = _pick(governance, "authenticator", "authenticate")
        if self.authenticator is None:
            self.authenticator = StaticKeyAuthenticator(coord.config.api_keys, coord.admin.is_admin)
        if self.governor is None:
            self.governor = _pick(governance, "governor", "admit")
        if self.governor is None:
            self.governor = NoopGovernor(self.settings.usage_memory)
        s = self.settings
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=s.max_connections, limit_per_host=s.max_connections_per_host,
                                           keepalive_timeout=30, ttl_dns_cache=300),
            # A backstop only: each attempt has its own deadline (the target's timeout_s).
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=s.connect_timeout_s),
            auto_decompress=True,
        )
        forwarder = Forwarder(self.session, s, self.metrics, self.stats, self.breakers, self.keypools)
        catalog = Catalog(coord.config, self.directory, node_timeout_s=s.node_timeout_s)
        self.router = Router(catalog, forwarder, coord.config.default_policy)
        api = GatewayAPI(router=self.router, forwarder=forwarder, authenticator=self.authenticator,
                         governor=self.governor, metrics=self.metrics, settings=s,
                         max_body_bytes=coord.config.max_body_bytes)
        api.add_routes(coord.http_app)
        GatewayAdmin(coord, catalog, forwarder).add_routes(coord.http_app)
        self.forwarder = forwarder
        self._prober = asyncio.get_running_loop().create_task(self._probe_loop(), name="gateway-prober")
        routes = coord.http_app.router.routes()
        if not any(r.resource is not None and r.resource.canonical == "/metrics" for r in routes):
            self._metrics_access = MetricsAccess(is_admin=coord.admin.is_admin, token=coord.config.metrics_token,
                                                 public=coord.config.metrics_public)
            coord.http_app.router.add_get("/metrics", self._metrics)
        log.info("gateway: %d provider(s), directory %s, policy %s", len(coord.config.providers),
                 type(self.directory).__name__, coord.config.default_policy)

    def breaker_state(self, route: str) -> str:
        b = self.breakers.get(route)
        return b.state(self.settings.clock()) if b is not None else CLOSED

    def open_circuits(self) -> float:
        now = self.settings.clock()
        return float(sum(1 for b in self.breakers.values() if b.state(now) != CLOSED))

    def _inflight(self) -> float:
        return float(self.stats.total_inflight())

    async def _metrics(self, request: web.Request) -> web.Response:
        assert self._metrics_access is not None
        self._metrics_access.check(request)
        return web.Response(text=self.registry.render(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def _probe_loop(self) -> None:
        assert self.router is not None
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.settings.probe_interval_s)
            except TimeoutError:
                pass
            if not self._stop.is_set():
                self.router.probe_due()

    async def close(self) -> None:
        self._stop.set()
        if self._prober is not None:
            await self._prober
            self._prober = None
        if self.router is not None:
            await self.router.close()
        if self.session is not None:
            await self.session.close()
            self.session = None
