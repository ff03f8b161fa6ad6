"""The control plane's server interceptor: every Fleet RPC but Enroll carries the node's identity.

    authorization: Bearer <node_secret>
    x-shareai-node-id: <node_id>

The secret is hashed and compared in constant time against the in-memory identity (no disk on the
heartbeat path). A wrong or missing secret is UNAUTHENTICATED; a revoked node is PERMISSION_DENIED,
so its agent can say why and stop instead of retrying. Other services on the server (the standard
health service) are not touched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from shareai.coordinator.fleet.nodes import NodeStore

SERVICE_PREFIX = "/shareai.proto.fleet.v1.Fleet/"
OPEN_METHODS = frozenset({SERVICE_PREFIX + "Enroll"})
NODE_ID_KEY = "x-shareai-node-id"


def refuse(code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    async def abort(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(abort)


class NodeAuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, store: NodeStore) -> None:
        self._store = store

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        if not method.startswith(SERVICE_PREFIX) or method in OPEN_METHODS:
            return await continuation(handler_call_details)
        secret = node_id = None
        for key, value in handler_call_details.invocation_metadata or ():
            if key == "authorization" and isinstance(value, str):
                scheme, _, token = value.partition(" ")
                if scheme.lower() == "bearer":
                    secret = token.strip()
            elif key == NODE_ID_KEY and isinstance(value, str):
                node_id = value
        if not secret or not node_id:
            return refuse(grpc.StatusCode.UNAUTHENTICATED,
                           f"missing node credentials: send 'authorization: Bearer <secret>' and '{NODE_ID_KEY}'")
        record = self._store.check(node_id, secret)
        if record is None:
            return refuse(grpc.StatusCode.UNAUTHENTICATED, "invalid node credentials")
        if record.revoked:
            return refuse(grpc.StatusCode.PERMISSION_DENIED, f"node {node_id} has been revoked; enroll it again")
        return await continuation(handler_call_details)


def node_id_of(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The node id the interceptor authenticated for this call."""
    for key, value in context.invocation_metadata() or ():
        if key == NODE_ID_KEY:
            return str(value)
    raise RuntimeError("call reached the servicer without node credentials")
