"""`ConsoleSubsystem`: the console as a coordinator part (a table of users, HTTP routes, no gRPC).

    console = ConsoleSubsystem(config, fleet=fleet, governance=governance, gateway=gateway, clock=clock)

Constructed by `compose.build_coordinator` after the gateway (it reads the gateway's catalog and
route health, the fleet's nodes and tokens, governance's orgs, keys, limits and usage) and only with
governance on (users belong to orgs). At start it loads the users and adds its routes: the pages
and static files (`pages.py`), the JSON calls (`api.py`) and `/admin/v1/users` (`admin_routes.py`).
A background sweep ends expired sessions every minute and revokes their playground keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.console.accounts import USERS_SCHEMA, User, UserDirectory
from shareai.coordinator.console.admin_routes import UserAdminRoutes
from shareai.coordinator.console.api import ConsoleAPI
from shareai.coordinator.console.auth import ConsoleAuth
from shareai.coordinator.console.enroll import EnrollCommands
from shareai.coordinator.console.pages import ConsolePages
from shareai.coordinator.console.sessions import IDLE_S, MAX_S, SessionStore
from shareai.coordinator.console.signin import MAX_FAILURES, WINDOW_S, SigninLimiter
from shareai.coordinator.console.views import ConsoleData
from shareai.coordinator.fleet.subsystem import FleetSubsystem
from shareai.coordinator.gateway.subsystem import GatewaySubsystem
from shareai.coordinator.governance.subsystem import GovernanceSubsystem
from shareai.coordinator.interfaces import Host
from shareai.coordinator.store.db import Schema

log = logging.getLogger(__name__)
SWEEP_S = 60.0


@dataclass(frozen=True, slots=True)
class ConsoleOptions:
    """Session and sign-in limits (defaults: 30 min idle, 12 h absolute, 5 failures per 5 min)."""

    session_idle_s: float = IDLE_S
    session_max_s: float = MAX_S
    signin_max_failures: int = MAX_FAILURES
    signin_window_s: float = WINDOW_S


class ConsoleSubsystem:
    name = "console"
    schemas: tuple[Schema, ...] = (USERS_SCHEMA,)

    def __init__(self, config: CoordinatorConfig, *, fleet: FleetSubsystem, governance: GovernanceSubsystem,
                 gateway: GatewaySubsystem, clock: Callable[[], float] = time.time,
                 options: ConsoleOptions | None = None) -> None:
        o = options or ConsoleOptions()
        self._config = config
        self._clock = clock
        self.data = ConsoleData(config=config, fleet=fleet, governance=governance, gateway=gateway, clock=clock)
        self._governance = governance
        self.sessions = SessionStore(idle_s=o.session_idle_s, max_s=o.session_max_s, clock=clock)
        self.limiter = SigninLimiter(max_failures=o.signin_max_failures, window_s=o.signin_window_s, clock=clock)
        self.users: UserDirectory
        self.auth: ConsoleAuth
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, host: Host) -> None:
        self.users = await UserDirectory.load(host.db, host.audit, self._clock)
        self.auth = ConsoleAuth(self.users, self.sessions, self.limiter, host.audit, secure=self._config.tls,
                                revoke_key=self._revoke_key, public_url=self._config.public_url)
        ConsolePages(self.auth).add_routes(host.http_app)
        ConsoleAPI(self.auth, self.data, host.audit, EnrollCommands(self._config, host),
                   clock=self._clock).add_routes(host.http_app)
        UserAdminRoutes(self.users, host.admin, org_exists=self.data.org_exists,
                        on_removed=self._user_removed).add_routes(host.http_app)
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="console-sessions")

    async def _revoke_key(self, actor: str, key_id: str) -> None:
        key = self._governance.directory.keys.get(key_id)
        if key is not None and key.revoked_at is None:
            await self._governance.directory.revoke_key(actor, key_id)

    async def _user_removed(self, actor: str, user: User) -> None:
        await self.auth.end(actor, self.sessions.end_user(user.id))

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                await self.auth.end("console", self.sessions.take_expired())
            except Exception:  # logged; the next sweep tries the rest
                log.exception("ending expired console sessions failed")

    def grpc_interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        return []

    def add_grpc_services(self, server: grpc.aio.Server) -> None:
        pass

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
