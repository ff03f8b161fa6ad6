"""`FleetSubsystem`: plugs the control plane into the coordinator process (`app.py`).

    coord = Coordinator(config)               # default_subsystems() includes FleetSubsystem()
    await coord.start()
    fleet = coord.subsystem("fleet")
    fleet.directory.routes_for("gemma-3-270m", org=None)   # the gateway's NodeDirectory

`grpc_interceptors` is called by the app before `start` (interceptors are fixed when the gRPC
server is built), so the interceptor holds a slot that `start` fills with the loaded node store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc

from shareai.coordinator.fleet.admin_routes import FleetAdminRoutes
from shareai.coordinator.fleet.auth import SERVICE_PREFIX, NodeAuthInterceptor, refuse
from shareai.coordinator.fleet.endpoints import EndpointRule
from shareai.coordinator.fleet.nodes import NodeStore
from shareai.coordinator.fleet.registry import Registry
from shareai.coordinator.fleet.schema import FLEET_SCHEMA
from shareai.coordinator.fleet.service import FleetService
from shareai.coordinator.fleet.servicer import FleetServicer
from shareai.coordinator.fleet.tokens import TokenStore
from shareai.coordinator.interfaces import NodeDirectory
from shareai.coordinator.store.db import Schema
from shareai.proto.fleet.v1 import fleet_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    from shareai.coordinator.app import Coordinator


class _DeferredAuth(grpc.aio.ServerInterceptor):
    """Refuses Fleet calls until the subsystem has started (the server starts after us anyway)."""

    def __init__(self) -> None:
        self.inner: NodeAuthInterceptor | None = None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        if self.inner is None:
            if handler_call_details.method.startswith(SERVICE_PREFIX):
                return refuse(grpc.StatusCode.UNAVAILABLE, "the fleet is starting")
            return await continuation(handler_call_details)
        return await self.inner.intercept_service(continuation, handler_call_details)


class FleetSubsystem:
    name = "fleet"
    schemas: tuple[Schema, ...] = (FLEET_SCHEMA,)

    def __init__(self) -> None:
        self._auth = _DeferredAuth()
        self.service: FleetService | None = None

    def grpc_interceptors(self, coord: Any) -> list[grpc.aio.ServerInterceptor]:
        return [self._auth]

    async def start(self, coord: Coordinator) -> None:
        cfg = coord.config
        store = await NodeStore.open(coord.db)
        registry = Registry(interval_s=cfg.heartbeat_interval_s, patience=cfg.patience, clock=coord.clock)
        self.service = FleetService(store, TokenStore(coord.db), registry, coord.audit, clock=coord.clock)
        self._auth.inner = NodeAuthInterceptor(store)
        servicer = FleetServicer(self.service, EndpointRule(cfg.node_networks))
        pb_grpc.add_FleetServicer_to_server(servicer, coord.grpc_server)
        FleetAdminRoutes(self.service, coord).add_to(coord.http_app)
        self.service.start()

    @property
    def directory(self) -> NodeDirectory:
        """The live fleet for the gateway: only online, available, non-revoked nodes."""
        if self.service is None:
            raise RuntimeError("the fleet subsystem has not started")
        return self.service.registry

    async def retire_org(self, actor: str, org: str) -> dict[str, list[str]]:
        """Governance calls this while deleting `org`: its tokens and nodes are revoked."""
        if self.service is None:
            raise RuntimeError("the fleet subsystem has not started")
        return await self.service.retire_org(actor, org)

    async def close(self) -> None:
        if self.service is not None:
            await self.service.close()
