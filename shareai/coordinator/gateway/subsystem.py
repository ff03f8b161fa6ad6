"""The gateway as a coordinator part: the API over its collaborators, passed in at construction.

    GatewaySubsystem(config, directory=fleet.directory, authenticator=gov, governor=gov)
    GatewaySubsystem(config, directory=my_directory, authenticator=a, governor=g,
                     settings=GatewayOptions(clock=fake_clock))              # tests

`compose.build_coordinator` passes the fleet's live registry as the `NodeDirectory` and governance
as `Authenticator` and `Governor` (or, only with `[governance] enabled = false`, the explicit
fallbacks of `fallbacks.py`). All three are required: a gateway without them cannot be built.
Config (`[routing]` tunables) is read here, at construction.
It owns the one upstream `aiohttp.ClientSession` and serves Prometheus `/metrics` (to the admin key
or the `[server] metrics_token`, see `metrics_access.py`).
"""

from __future__ import annotations

import logging

import aiohttp
import grpc
from aiohttp import web

from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.gateway.admin_routes import GatewayAdminRoutes
from shareai.coordinator.gateway.api import GatewayAPI
from shareai.coordinator.gateway.forward import Forwarder
from shareai.coordinator.gateway.health import RouteHealth
from shareai.coordinator.gateway.metrics import GatewayMetrics, MetricsRegistry
from shareai.coordinator.gateway.metrics_access import MetricsAccess
from shareai.coordinator.gateway.options import GatewayOptions
from shareai.coordinator.gateway.router import Router
from shareai.coordinator.gateway.targets import Catalog
from shareai.coordinator.interfaces import Authenticator, Governor, Host, NodeDirectory
from shareai.coordinator.store.db import Schema

log = logging.getLogger(__name__)


class GatewaySubsystem:
    name = "gateway"
    schemas: tuple[Schema, ...] = ()

    def __init__(self, config: CoordinatorConfig, *, directory: NodeDirectory, authenticator: Authenticator,
                 governor: Governor, settings: GatewayOptions | None = None) -> None:
        for what, value in (("directory", directory), ("authenticator", authenticator), ("governor", governor)):
            if value is None:  # typed callers cannot get here; untyped ones get a clear start-up error
                raise TypeError(f"GatewaySubsystem needs a {what}; pass the fallback explicitly if that is meant")
        self.config = config
        if settings is None:  # the `[routing]` table of the config
            settings = GatewayOptions(breaker_threshold=config.breaker_threshold,
                                       breaker_cooldown_s=config.breaker_cooldown_s,
                                       node_timeout_s=config.node_timeout_s)
        self.settings = settings
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

    async def start(self, host: Host) -> None:
        cfg = self.config
        s = self.settings
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=s.max_connections, limit_per_host=s.max_connections_per_host,
                                           keepalive_timeout=30, ttl_dns_cache=300),
            # A backstop only: each attempt has its own deadline (the target's timeout_s).
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=s.connect_timeout_s),
            auto_decompress=True,
        )
        forwarder = Forwarder(self.session, self.health, self.metrics)
        catalog = Catalog(cfg, self.directory, node_timeout_s=s.node_timeout_s)
        self.router = Router(catalog, self.health, cfg.default_policy)
        api = GatewayAPI(router=self.router, forwarder=forwarder, health=self.health,
                         authenticator=self.authenticator, governor=self.governor, metrics=self.metrics, settings=s,
                         max_body_bytes=cfg.max_body_bytes, clock=host.clock)
        api.add_routes(host.http_app)
        GatewayAdminRoutes(host, catalog, self.health).add_routes(host.http_app)
        self.forwarder = forwarder
        self.health.start(self.session, self.metrics, catalog.probe_targets)
        routes = host.http_app.router.routes()
        if not any(r.resource is not None and r.resource.canonical == "/metrics" for r in routes):
            self._metrics_access = MetricsAccess(is_admin=host.admin.is_admin, token=cfg.metrics_token,
                                                 public=cfg.metrics_public)
            host.http_app.router.add_get("/metrics", self._metrics)
        log.info("gateway: %d provider(s), directory %s, policy %s", len(cfg.providers),
                 type(self.directory).__name__, cfg.default_policy)

    def grpc_interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        return []

    def add_grpc_services(self, server: grpc.aio.Server) -> None:
        pass

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
