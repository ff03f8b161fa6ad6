"""Coordinators with only some parts, for the tests of one part (the whole one: `build_coordinator`).

Each is wired explicitly, like `compose.build_coordinator` does, with the collaborators the test
chooses: a fleet whose tokens may name any org, governance without a fleet, a gateway over
in-test directories and governors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shareai.coordinator.app import Coordinator
from shareai.coordinator.compose import load_admin, load_tls
from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.fleet.admin_routes import FleetAdminRoutes
from shareai.coordinator.fleet.subsystem import FleetSubsystem
from shareai.coordinator.gateway.fallbacks import AnyOrg, EmptyDirectory, StaticKeyAuthenticator
from shareai.coordinator.gateway.options import GatewayOptions
from shareai.coordinator.gateway.subsystem import GatewaySubsystem
from shareai.coordinator.governance.subsystem import GovernanceSubsystem
from shareai.coordinator.install_routes import InstallSubsystem
from shareai.coordinator.interfaces import Authenticator, Governor, NodeDirectory, Subsystem


class PartialCoordinator(Coordinator):
    """A coordinator with the parts a test named; the others are None."""

    fleet: FleetSubsystem | None = None
    governance: GovernanceSubsystem | None = None
    gateway: GatewaySubsystem | None = None


def _coordinator(cfg: CoordinatorConfig, parts: list[Subsystem], admin_key: str | None,
                 clock: Callable[[], float]) -> PartialCoordinator:
    tls = load_tls(cfg)
    return PartialCoordinator(cfg, parts, admin=load_admin(cfg, admin_key), tls=tls, clock=clock)


def fleet_coordinator(cfg: CoordinatorConfig, *, admin_key: str | None,
                      clock: Callable[[], float] = time.time) -> PartialCoordinator:
    """The fleet and its admin routes; enrollment tokens may name any org (no org directory)."""
    fleet = FleetSubsystem(cfg, clock=clock)
    coord = _coordinator(cfg, [fleet, FleetAdminRoutes(fleet, AnyOrg())], admin_key, clock)
    coord.fleet = fleet
    return coord


async def _no_fleet(actor: str, org: str) -> dict[str, Any]:
    return {}  # governance alone: an org has no fleet tokens or nodes to retire


def governance_coordinator(cfg: CoordinatorConfig, *, admin_key: str | None, clock: Callable[[], float] = time.time,
                           **options: Any) -> PartialCoordinator:
    """Governance alone (its admin API), without a fleet: no node prices, nothing to retire."""
    gov = GovernanceSubsystem(cfg, clock=clock, nodes=EmptyDirectory(), retire_org=_no_fleet, **options)
    coord = _coordinator(cfg, [gov], admin_key, clock)
    coord.governance = gov
    return coord


def gateway_coordinator(cfg: CoordinatorConfig, *, admin_key: str | None, governor: Governor,
                        directory: NodeDirectory | None = None, authenticator: Authenticator | None = None,
                        settings: GatewayOptions | None = None,
                        clock: Callable[[], float] = time.time) -> PartialCoordinator:
    """The gateway alone over the test's collaborators (no nodes and config keys unless given)."""
    tls = load_tls(cfg)
    admin = load_admin(cfg, admin_key)
    gateway = GatewaySubsystem(
        cfg, directory=directory if directory is not None else EmptyDirectory(),
        authenticator=authenticator if authenticator is not None else StaticKeyAuthenticator(cfg.api_keys,
                                                                                             admin.is_admin),
        governor=governor, settings=settings)
    coord = PartialCoordinator(cfg, [gateway], admin=admin, tls=tls, clock=clock)
    coord.gateway = gateway
    return coord


def install_coordinator(cfg: CoordinatorConfig, *, admin_key: str | None) -> PartialCoordinator:
    """The install routes alone (scripts and the agent wheel)."""
    return _coordinator(cfg, [InstallSubsystem(cfg)], admin_key, time.time)
