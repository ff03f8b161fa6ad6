"""The control plane's server interceptor: every Fleet RPC but Enroll carries the node's identity.

    authorization: Bearer <node_secret>
    x-shareai-node-id: <node_id>

Each key must appear exactly once: a call carrying either twice is UNAUTHENTICATED, because two
readers of the same metadata could otherwise pick different values (one node authenticating as
itself while the handler acts for another). The secret is hashed and compared in constant time
against the in-memory identity (no disk on the heartbeat path). A wrong or missing secret is
UNAUTHENTICATED; a revoked node is PERMISSION_DENIED, so its agent can say why and stop instead of
retrying. Other services on the server (the standard health service) are not touched.

The interceptor hands the node it authenticated to the servicer itself: it wraps the handler's
behaviour so that `authenticated_node()` returns that node while the handler runs. The servicer
never reads the identity metadata again.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from shareai.coordinator.fleet.nodes import NodeRecord, NodeStore

SERVICE_PREFIX = "/shareai.proto.fleet.v1.Fleet/"
OPEN_METHODS = frozenset({SERVICE_PREFIX + "Enroll"})
NODE_ID_KEY = "x-shareai-node-id"
AUTH_KEY = "authorization"

_caller: contextvars.ContextVar[NodeRecord | None] = contextvars.ContextVar("fleet_caller", default=None)


def refuse(code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    async def abort(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(abort)


def authenticated_node() -> NodeRecord:
    """The node the interceptor authenticated for the call being handled."""
    record = _caller.get()
    if record is None:
        raise RuntimeError("call reached the servicer without an authenticated node")
    return record


def _credentials(metadata: Any) -> tuple[str | None, str | None, str | None]:
    """(secret, node_id, error): the error names a duplicated identity key."""
    values: dict[str, list[Any]] = {AUTH_KEY: [], NODE_ID_KEY: []}
    for key, value in metadata or ():
        found = values.get(key.lower())
        if found is not None:
            found.append(value)
    for key, found in values.items():
        if len(found) > 1:
            return None, None, f"metadata '{key}' was sent {len(found)} times; send it exactly once"
    secret = node_id = None
    if values[AUTH_KEY] and isinstance(values[AUTH_KEY][0], str):
        scheme, _, token = values[AUTH_KEY][0].partition(" ")
        if scheme.lower() == "bearer":
            secret = token.strip()
    if values[NODE_ID_KEY] and isinstance(values[NODE_ID_KEY][0], str):
        node_id = values[NODE_ID_KEY][0]
    return secret, node_id, None


def _as_caller(handler: grpc.RpcMethodHandler, record: NodeRecord) -> grpc.RpcMethodHandler:
    """`handler` with its behaviour run as `record` (every Fleet RPC is unary-unary)."""
    behaviour: Any = handler.unary_unary  # typed for sync servers; ours is the aio coroutine
    if behaviour is None:
        return refuse(grpc.StatusCode.UNIMPLEMENTED, "only unary calls are served by the fleet")

    async def run_as(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        token = _caller.set(record)
        try:
            return await behaviour(request, context)
        finally:
            _caller.reset(token)

    return grpc.unary_unary_rpc_method_handler(
        run_as, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
    )


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
        secret, node_id, duplicated = _credentials(handler_call_details.invocation_metadata)
        if duplicated is not None:
            return refuse(grpc.StatusCode.UNAUTHENTICATED, duplicated)
        if not secret or not node_id:
            return refuse(grpc.StatusCode.UNAUTHENTICATED,
                          f"missing node credentials: send '{AUTH_KEY}: Bearer <secret>' and '{NODE_ID_KEY}'")
        record = self._store.check(node_id, secret)
        if record is None:
            return refuse(grpc.StatusCode.UNAUTHENTICATED, "invalid node credentials")
        if record.revoked:
            return refuse(grpc.StatusCode.PERMISSION_DENIED, f"node {node_id} has been revoked; enroll it again")
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        return _as_caller(handler, record)
