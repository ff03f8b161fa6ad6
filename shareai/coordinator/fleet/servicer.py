"""The `fleet.v1.Fleet` gRPC service: translation between the wire and `FleetService`.

Authentication happened in `NodeAuthInterceptor`, which hands the authenticated node over
(`authenticated_node()`); the identity metadata is never read again here, and a request naming
another node is refused. `Register` checks the advertised endpoint against `EndpointRule`.
`FleetError`s become their status code (`errors.grpc_status`), so agents get a precise reason
instead of UNKNOWN.
"""

from __future__ import annotations

from typing import Any

import grpc

from shareai.coordinator.fleet.auth import authenticated_node
from shareai.coordinator.fleet.endpoints import EndpointRule
from shareai.coordinator.fleet.errors import FleetError, grpc_status
from shareai.coordinator.fleet.nodes import NodeRecord
from shareai.coordinator.fleet.service import FleetService
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.proto.fleet.v1 import fleet_pb2_grpc as pb_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class FleetServicer(pb_grpc.FleetServicer):
    def __init__(self, fleet: FleetService, endpoints: EndpointRule | None = None) -> None:
        self._fleet = fleet
        self._endpoints = endpoints or EndpointRule()

    async def _caller(self, request_node_id: str, context: Context) -> NodeRecord:
        caller = authenticated_node()
        node_id = caller.id
        if request_node_id and request_node_id != node_id:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "node_id does not match the caller's credentials")
        record = self._fleet.store.get(node_id)
        if record is None or record.revoked:  # revoked between the interceptor and here
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"node {node_id} is not enrolled")
        if record is not caller:  # re-enrolled between the interceptor and here: that secret is void
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid node credentials")
        assert record is not None
        return record

    async def Enroll(self, request: pb.EnrollRequest, context: Context) -> pb.EnrollResponse:
        if not request.token:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "token is required")
        try:
            return await self._fleet.enroll(request)
        except FleetError as err:
            await context.abort(*grpc_status(err))
            raise  # unreachable: abort raises

    async def Register(self, request: pb.RegisterRequest, context: Context) -> pb.RegisterResponse:
        record = await self._caller(request.node_id, context)
        refused = self._endpoints.check(request.endpoint_url, context.peer())
        if refused is not None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, refused)
        names = [m.name for m in request.models]
        if not names or any(not n for n in names) or len(set(names)) != len(names):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "models must be non-empty with unique names")
        return self._fleet.register(record, request)

    async def Heartbeat(self, request: pb.HeartbeatRequest, context: Context) -> pb.HeartbeatResponse:
        record = await self._caller(request.node_id, context)
        return self._fleet.heartbeat(record, request)

    async def Deregister(self, request: pb.DeregisterRequest, context: Context) -> pb.DeregisterResponse:
        record = await self._caller(request.node_id, context)
        self._fleet.deregister(record, request.reason)
        return pb.DeregisterResponse()
