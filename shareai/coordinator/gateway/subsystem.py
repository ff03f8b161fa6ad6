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

import logging
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from shareai.coordinator.gateway.admin_routes import GatewayAdmin
from shareai.coordinator.gateway.api import GatewayAPI
from shareai.coordinator.gateway.fallbacks import EmptyDirectory, NoopGovernor, StaticKeyAuthenticator
from shareai.coordinator.gateway.forward import Forwarder
from shareai.coordinator.gateway.health import RouteHealth
from shareai.coordinator.gateway.metrics import GatewayMetrics, MetricsRegistry
from shareai.coordinator.gateway.metrics_access import MetricsAccess
from shareai.coordinator.gateway.router import Router
from shareai.coordinator.gateway.settings import GatewaySettings
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
        self.registry = MetricsRegistry()
        self.health = RouteHealth(self.settings)
        self.session: aiohttp.ClientSession | None = None
        self.router: Router | None = None
        self.forwarder: Forwarder | None = None
        self.metrics = GatewayMetrics(self.registry, lambda: float(self.health.open_circuits()),
                                      lambda: float(self.health.inflight()))
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
        forwarder = Forwarder(self.session, self.health, self.metrics)
        catalog = Catalog(coord.config, self.directory, node_timeout_s=s.node_timeout_s)
        self.router = Router(catalog, self.health, coord.config.default_policy)
        api = GatewayAPI(router=self.router, forwarder=forwarder, health=self.health,
                         authenticator=self.authenticator, governor=self.governor, metrics=self.metrics, settings=s,
                         max_body_bytes=coord.config.max_body_bytes, clock=coord.clock)
        api.add_routes(coord.http_app)
        GatewayAdmin(coord, catalog, self.health).add_routes(coord.http_app)
        self.forwarder = forwarder
        self.health.start(self.session, self.metrics, catalog.probe_targets)
        routes = coord.http_app.router.routes()
        if not any(r.resource is not None and r.resource.canonical == "/metrics" for r in routes):
            self._metrics_access = MetricsAccess(is_admin=coord.admin.is_admin, token=coord.config.metrics_token,
                                                 public=coord.config.metrics_public)
            coord.http_app.router.add_get("/metrics", self._metrics)
        log.info("gateway: %d provider(s), directory %s, policy %s", len(coord.config.providers),
                 type(self.directory).__name__, coord.config.default_policy)

    async def _metrics(self, request: web.Request) -> web.Response:
        assert self._metrics_access is not None
        self._metrics_access.check(request)
        return web.Response(text=self.registry.render(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def close(self) -> None:
        await self.health.close()
        if self.session is not None:
            await self.session.close()
            self.session = None
