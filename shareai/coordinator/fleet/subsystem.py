"""`FleetSubsystem`: the control plane as a part of the coordinator process.

    fleet = FleetSubsystem(config, clock=clock)   # compose.build_coordinator constructs it first
    fleet.directory.routes_for("gemma-3-270m", org=None)   # the gateway's `NodeDirectory`
    await fleet.retire_org(actor, "acme")           # governance's `RetireOrg` (org delete)

Config is read here, at construction. At start it loads the node store; the app then builds the
gRPC server with `grpc_interceptors()` (node authentication over that store) and adds the Fleet
service. Its admin HTTP routes are a separate part (`FleetAdminRoutes`), constructed by the
composition root after governance, because they need governance's `OrgLookup`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc

from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.fleet.auth import NodeAuthInterceptor
from shareai.coordinator.fleet.endpoints import EndpointRule
from shareai.coordinator.fleet.nodes import NodeStore
from shareai.coordinator.fleet.registry import Registry
from shareai.coordinator.fleet.schema import FLEET_SCHEMA
from shareai.coordinator.fleet.service import FleetService
from shareai.coordinator.fleet.servicer import FleetServicer
from shareai.coordinator.fleet.tokens import TokenStore
from shareai.coordinator.interfaces import Host
from shareai.coordinator.store.db import Schema
from shareai.proto.fleet.v1 import fleet_pb2_grpc as pb_grpc


class FleetSubsystem:
    name = "fleet"
    schemas: tuple[Schema, ...] = (FLEET_SCHEMA,)

    def __init__(self, config: CoordinatorConfig, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._rule = EndpointRule(config.node_networks)
        self.registry = Registry(interval_s=config.heartbeat_interval_s, patience=config.patience, clock=clock)
        self._service: FleetService | None = None

    @property
    def service(self) -> FleetService:
        if self._service is None:
            raise RuntimeError("the fleet subsystem has not started")
        return self._service

    async def start(self, host: Host) -> None:
        store = await NodeStore.open(host.db)
        self._service = FleetService(store, TokenStore(host.db), self.registry, host.audit, clock=self._clock)
        self._service.start()

    def grpc_interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        return [NodeAuthInterceptor(self.service.store)]

    def add_grpc_services(self, server: grpc.aio.Server) -> None:
        pb_grpc.add_FleetServicer_to_server(FleetServicer(self.service, self._rule), server)

    @property
    def directory(self) -> Registry:
        """The live fleet (online, available, non-revoked nodes): the gateway's `NodeDirectory`."""
        return self.registry

    async def retire_org(self, actor: str, org: str) -> dict[str, list[str]]:
        """Governance calls this while deleting `org`: its tokens and nodes are revoked."""
        return await self.service.retire_org(actor, org)

    async def close(self) -> None:
        if self._service is not None:
            await self._service.close()
