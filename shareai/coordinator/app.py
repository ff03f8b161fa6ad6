"""The coordinator process: one SQLite store, the gRPC control plane and the HTTP API.

    coord = build_coordinator(config)   # compose.py: constructs and wires every subsystem, in order
    await coord.start()          # binds HTTP and gRPC (port 0 -> the ports it got)
    ...
    await coord.stop()           # graceful: stop accepting, finish in-flight, drain buffers

`Coordinator` is the `Host` its subsystems see (`interfaces.Host`: config, clock, db, audit, admin,
http_app, grpc_port); it knows them only as `Subsystem`s in the order it was given: started in
that order, closed in reverse. Which subsystems exist and who talks to whom is decided once, in
`compose.build_coordinator`; nothing here looks a subsystem up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from shareai.coordinator.admin import AdminAuth
from shareai.coordinator.audit import AUDIT_SCHEMA, AuditLog
from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.cors import Cors
from shareai.coordinator.interfaces import Subsystem
from shareai.coordinator.store.db import Database
from shareai.coordinator.tls import ServerTls
from shareai.coordinator.tls import TlsError as TlsError  # re-exported: callers catch it from here
from shareai.wire.http import error_middleware

log = logging.getLogger(__name__)


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


class Coordinator:
    def __init__(
        self,
        config: CoordinatorConfig,
        subsystems: Sequence[Subsystem],
        *,
        admin: AdminAuth,
        tls: ServerTls,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.tls = tls  # loaded before anything opened (`compose.load_tls`)
        self.clock = clock
        self.admin = admin
        self.subsystems: tuple[Subsystem, ...] = tuple(subsystems)
        self.db: Database
        self.audit: AuditLog
        self.http_app = web.Application(middlewares=[error_middleware], client_max_size=config.max_body_bytes)
        if config.cors_origins:
            Cors(config.cors_origins).install(self.http_app)  # browser apps on /v1/* (cors.py)
        self.grpc_server: grpc.aio.Server
        self.health = HealthServicer()
        self.http_port = 0
        self.grpc_port = 0
        self._runner: web.AppRunner | None = None
        self._started = False
        self.http_app.router.add_get("/healthz", self._healthz)

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
        schemas = [AUDIT_SCHEMA] + [s for sub in self.subsystems for s in sub.schemas]
        self.db = await Database.open(cfg.data_dir / "coordinator.db", schemas)
        self.audit = AuditLog(self.db, clock=self.clock)
        self.audit.start()
        for sub in self.subsystems:
            await sub.start(self)
        self.grpc_server = grpc.aio.server(
            options=[
                # Load balancers and NATs drop idle TCP after ~4 minutes: ping well before that.
                ("grpc.keepalive_time_ms", 60_000),
                ("grpc.keepalive_timeout_ms", 20_000),
                ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.max_receive_message_length", 4 * 1024 * 1024),
            ],
            # Interceptors are fixed when the server is built, so it is built after the
            # subsystems have loaded their state (the fleet's interceptor reads its node store).
            interceptors=[i for sub in self.subsystems for i in sub.grpc_interceptors()],
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc_server)
        for sub in self.subsystems:
            sub.add_grpc_services(self.grpc_server)
        address = f"{cfg.grpc_host}:{cfg.grpc_port}"
        if self.tls.grpc is not None:
            self.grpc_port = self.grpc_server.add_secure_port(address, self.tls.grpc)
        else:
            self.grpc_port = self.grpc_server.add_insecure_port(address)
        await self.grpc_server.start()
        # handler_cancellation: a client that disconnects cancels its handler, so the gateway's
        # upstream call is cancelled too (and its reservation released) instead of running on.
        self._runner = web.AppRunner(self.http_app, access_log=None, handle_signals=False, shutdown_timeout=5.0,
                                     handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.http_host, cfg.http_port, ssl_context=self.tls.http)
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
