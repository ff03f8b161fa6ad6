"""The composition root: the one place that constructs the coordinator and wires its parts.

    coord = build_coordinator(config)                 # `shareai-coordinator serve`, tests, bench
    await coord.start(); ...; await coord.stop()

Who constructs whom, in order (each part gets its collaborators as typed objects, see
`interfaces.py`; nothing is looked up by name later):

    tls       = load_tls(config)                       certificate checked before anything opens
    admin     = load_admin(config)                     admin key (data dir 0700)
    fleet     = FleetSubsystem(config, clock)          node store, tokens, registry, service,
                                                       servicer, auth interceptor (at start)
    governance = GovernanceSubsystem(config, clock,    org directory, prices, cache, usage writer,
        nodes=fleet.directory,                         governor, key authenticator, admin routes
        retire_org=fleet.retire_org)
        -- or, only with `[governance] enabled = false`: StaticKeyAuthenticator, NoopGovernor, AnyOrg
    fleet_admin = FleetAdminRoutes(fleet, orgs=governance)
    install   = InstallSubsystem(config)
    gateway   = GatewaySubsystem(config, directory=fleet.directory,
                                 authenticator=governance, governor=governance)
    console   = ConsoleSubsystem(config, fleet=fleet, governance=governance,   (only with governance:
                                 gateway=gateway)                              users belong to orgs)
    openapi   = OpenApiSubsystem()                       the API description at GET /openapi.json
    Coordinator(config, [fleet, governance, fleet_admin, install, gateway, console, openapi], admin=admin,
                tls=tls,
                clock=clock)

The database and the audit log need the event loop and are opened by `Coordinator.start`, before
the parts start in this order (they are closed in reverse).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from shareai.coordinator.admin import AdminAuth
from shareai.coordinator.app import Coordinator
from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.console.subsystem import ConsoleOptions, ConsoleSubsystem
from shareai.coordinator.fleet.admin_routes import FleetAdminRoutes
from shareai.coordinator.fleet.subsystem import FleetSubsystem
from shareai.coordinator.gateway.fallbacks import AnyOrg, NoopGovernor, StaticKeyAuthenticator
from shareai.coordinator.gateway.options import GatewayOptions
from shareai.coordinator.gateway.subsystem import GatewaySubsystem
from shareai.coordinator.governance.subsystem import GovernanceSubsystem
from shareai.coordinator.install_routes import InstallSubsystem
from shareai.coordinator.interfaces import Authenticator, Governor, OrgLookup, Subsystem
from shareai.coordinator.openapi import OpenApiSubsystem
from shareai.coordinator.tls import ServerTls

log = logging.getLogger(__name__)


def load_tls(config: CoordinatorConfig) -> ServerTls:
    """First, before anything opens: an unusable certificate is a start-up error (`TlsError`), not
    a leak. One certificate for both planes: the HTTP side carries the admin key, API keys, prompts."""
    return ServerTls.load(config.tls_cert, config.tls_key)


def load_admin(config: CoordinatorConfig, admin_key: str | None = None) -> AdminAuth:
    """The admin key (`admin_key`, else `SHAREAI_ADMIN_KEY`, else the stored hash, else a new one);
    creates the data dir (0700)."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config.data_dir.chmod(0o700)
    return AdminAuth.load(config.data_dir, admin_key)


@dataclass(frozen=True, slots=True)
class Parts:
    """The constructed parts, typed, for the callers that reach into one (CLI output, tests)."""

    fleet: FleetSubsystem
    governance: GovernanceSubsystem | None  # None only with `[governance] enabled = false`
    fleet_admin: FleetAdminRoutes
    install: InstallSubsystem
    gateway: GatewaySubsystem
    openapi: OpenApiSubsystem
    console: ConsoleSubsystem | None = None  # None only with `[governance] enabled = false`


class ComposedCoordinator(Coordinator):
    """A `Coordinator` built by `build_coordinator`, with its parts reachable by type."""

    def __init__(self, config: CoordinatorConfig, parts: Parts, *, admin: AdminAuth, tls: ServerTls,
                 clock: Callable[[], float]) -> None:
        order: list[Subsystem] = [parts.fleet]
        if parts.governance is not None:
            order.append(parts.governance)
        order += [parts.fleet_admin, parts.install, parts.gateway]
        if parts.console is not None:
            order.append(parts.console)
        order.append(parts.openapi)  # last: it describes the routes the others added
        super().__init__(config, order, admin=admin, tls=tls, clock=clock)
        self.parts = parts
        self.fleet = parts.fleet
        self.governance = parts.governance
        self.gateway = parts.gateway
        self.console = parts.console


def build_coordinator(config: CoordinatorConfig, *, admin_key: str | None = None,
                      clock: Callable[[], float] = time.time,
                      gateway_options: GatewayOptions | None = None,
                      console_options: ConsoleOptions | None = None) -> ComposedCoordinator:
    """The whole coordinator for `config`, every part constructed here, in dependency order.

    `clock` is wall time for every part (tests pass a fake one); `gateway_options` replaces the
    `[routing]` tunables (tests shorten breaker cooldowns); `console_options` the console's session
    and sign-in limits (tests shorten them)."""
    tls = load_tls(config)
    admin = load_admin(config, admin_key)
    fleet = FleetSubsystem(config, clock=clock)
    governance: GovernanceSubsystem | None
    authenticator: Authenticator
    governor: Governor
    orgs: OrgLookup
    if config.governance.enabled:
        governance = GovernanceSubsystem(config, clock=clock, nodes=fleet.directory, retire_org=fleet.retire_org)
        authenticator = governor = orgs = governance
    else:
        governance = None
        authenticator = StaticKeyAuthenticator(config.api_keys, admin.is_admin)
        governor = NoopGovernor((gateway_options or GatewayOptions()).usage_memory)
        orgs = AnyOrg()
        log.warning("governance disabled ([governance] enabled = false): no orgs, keys, limits, quotas or "
                    "accounting; only the admin key and [auth] api_keys are accepted")
    gateway = GatewaySubsystem(config, directory=fleet.directory, authenticator=authenticator,
                               governor=governor, settings=gateway_options)
    console = None
    if governance is not None:
        console = ConsoleSubsystem(config, fleet=fleet, governance=governance, gateway=gateway, clock=clock,
                                   options=console_options)
    parts = Parts(
        fleet=fleet,
        governance=governance,
        fleet_admin=FleetAdminRoutes(fleet, orgs),
        install=InstallSubsystem(config),
        gateway=gateway,
        console=console,
        openapi=OpenApiSubsystem(),
    )
    return ComposedCoordinator(config, parts, admin=admin, tls=tls, clock=clock)
