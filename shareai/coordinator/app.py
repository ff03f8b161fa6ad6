"""The coordinator process: one SQLite store, the gRPC control plane and the HTTP API.

    coord = Coordinator(config)
    await coord.start()          # binds HTTP and gRPC (port 0 -> the ports it got)
    ...
    await coord.stop()           # graceful: stop accepting, finish in-flight, drain buffers

Subsystems plug in through `Subsystem`: each gets the coordinator at start (to read `db`, `audit`,
`admin`, `config` and the other subsystems), adds HTTP routes and gRPC servicers, and is closed in
reverse order on stop. The order in `SUBSYSTEMS` is the dependency order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from shareai.coordinator.admin import AdminAuth
from shareai.coordinator.audit import AUDIT_SCHEMA, AuditLog
from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.store.db import Database, Schema
from shareai.coordinator.tls import TlsError as TlsError  # re-exported: callers catch it from here
from shareai.coordinator.tls import load_server_tls
from shareai.wire.http import error_middleware

log = logging.getLogger(__name__)


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


class Subsystem(Protocol):
    name: str
    schemas: tuple[Schema, ...]

    async def start(self, coord: Coordinator) -> None:
        """Attach routes (`coord.http_app.router`) and servicers (`coord.grpc_server`)."""
        ...

    async def close(self) -> None:
        ...


def default_subsystems() -> list[Subsystem]:
    """The coordinator's subsystems in dependency order (fleet -> governance -> gateway)."""
    from shareai.coordinator.fleet import FleetSubsystem
    from shareai.coordinator.governance import GovernanceSubsystem
    from shareai.coordinator.install_routes import InstallSubsystem

    subsystems: list[Subsystem] = [FleetSubsystem(), GovernanceSubsystem()]
    subsystems.append(InstallSubsystem())  # GET /install.sh, /install.ps1 (point-and-enroll)
    from shareai.coordinator.gateway import GatewaySubsystem

    subsystems.append(GatewaySubsystem())  # last: finds fleet and governance through coord.subsystem()
    return subsystems


class Coordinator:
    def __init__(
        self,
        config: CoordinatorConfig,
        *,
        subsystems: list[Subsystem] | None = None,
        admin_key: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.clock = clock
        self._admin_key = admin_key
        self.subsystems: list[Subsystem] = subsystems if subsystems is not None else default_subsystems()
        self.db: Database
        self.audit: AuditLog
        self.admin: AdminAuth
        self.http_app = web.Application(middlewares=[error_middleware], client_max_size=config.max_body_bytes)
        self.grpc_server: grpc.aio.Server
        self.health = HealthServicer()
        self.http_port = 0
        self.grpc_port = 0
        self._runner: web.AppRunner | None = None
        self._started = False
        self.http_app.router.add_get("/healthz", self._healthz)

    def subsystem(self, name: str) -> Any:
        """A started subsystem by name (e.g. `coord.subsystem("fleet")`)."""
        for sub in self.subsystems:
            if sub.name == name:
                return sub
        raise KeyError(name)

    @property
    def url(self) -> str:
        scheme = "https" if self.config.tls else "http"
        return f"{scheme}://{self.config.http_host}:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        host = "127.0.0.1" if self.config.grpc_host in ("0.0.0.0", "::", "") else self.config.grpc_host
        return f"{host}:{self.grpc_port}"

    async def start(self) -> None:
        cfg = self.config
        # First, before anything opens: an unusable certificate is a start-up error, not a leak.
        # One certificate for both planes: the HTTP side carries the admin key, API keys and prompts.
        tls, http_ssl = load_server_tls(cfg.tls_cert, cfg.tls_key) if cfg.tls_cert and cfg.tls_key else (None, None)
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        cfg.data_dir.chmod(0o700)
        schemas = [AUDIT_SCHEMA] + [s for sub in self.subsystems for s in sub.schemas]
        self.db = await Database.open(cfg.data_dir / "coordinator.db", schemas)
        self.audit = AuditLog(self.db, clock=self.clock)
        self.audit.start()
        self.admin = AdminAuth.load(cfg.data_dir, self._admin_key)
        self.grpc_server = grpc.aio.server(
            options=[
                # Load balancers and NATs drop idle TCP after ~4 minutes: ping well before that.
                ("grpc.keepalive_time_ms", 60_000),
                ("grpc.keepalive_timeout_ms", 20_000),
                ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.max_receive_message_length", 4 * 1024 * 1024),
            ],
            interceptors=self._grpc_interceptors(),
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc_server)
        for sub in self.subsystems:
            await sub.start(self)
        address = f"{cfg.grpc_host}:{cfg.grpc_port}"
        if tls is not None:
            self.grpc_port = self.grpc_server.add_secure_port(address, tls)
        else:
            self.grpc_port = self.grpc_server.add_insecure_port(address)
        await self.grpc_server.start()
        # handler_cancellation: a client that disconnects cancels its handler, so the gateway's
        # upstream call is cancelled too (and its reservation released) instead of running on.
        self._runner = web.AppRunner(self.http_app, access_log=None, handle_signals=False, shutdown_timeout=5.0,
                                     handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.http_host, cfg.http_port, ssl_context=http_ssl)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.http_port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        self._started = True
        log.info("coordinator up: http %s grpc %s%s config %s", self.url, self.grpc_target,
                 " (TLS)" if cfg.tls else "", cfg.masked())
        if _loopback(cfg.grpc_host) and not _loopback(cfg.http_host) and cfg.public_grpc is None:
            # The install scripts served to other machines would point their agents at this port.
            log.warning("gRPC listens on %s only: agents on other machines cannot enroll; serve with "
                        "--grpc-host 0.0.0.0 ([server] grpc_host) to let them in", cfg.grpc_host)

    def _grpc_interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        interceptors: list[grpc.aio.ServerInterceptor] = []
        for sub in self.subsystems:
            make = getattr(sub, "grpc_interceptors", None)
            if make is not None:
                interceptors.extend(make(self))
        return interceptors

    async def stop(self, grace_s: float = 5.0) -> None:
        if not self._started:
            return
        self._started = False
        await self.health.enter_graceful_shutdown()
        await self.grpc_server.stop(grace_s)
        if self._runner is not None:
            await self._runner.cleanup()
        for sub in reversed(self.subsystems):
            try:
                await sub.close()
            except Exception:
                log.exception("closing subsystem %s failed", sub.name)
        await self.audit.close()
        await self.db.close()

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def serve_forever(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()
