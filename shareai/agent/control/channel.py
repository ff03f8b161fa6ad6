"""The gRPC channel to the coordinator, and the credentials each call carries.

TLS is optional (`tls=True`, with an optional CA bundle for private CAs); without it the channel is
plaintext, which suits a coordinator on the same host or behind a TLS-terminating proxy.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from shareai.agent.control.identity import NodeIdentity

NODE_ID_KEY = "x-shareai-node-id"

_OPTIONS = [
    # Load balancers and NATs drop idle TCP after ~4 minutes: ping well before that (the server
    # permits pings every 30 s without calls).
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # Reconnect within about a second of a coordinator restart (a refused connect is cheap), so
    # agents re-register well inside two heartbeat intervals; the session's backoff spaces RPCs.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]


def open_channel(target: str, *, tls: bool = False, ca_file: Path | None = None) -> grpc.aio.Channel:
    if not tls:
        return grpc.aio.insecure_channel(target, options=_OPTIONS)
    root = ca_file.read_bytes() if ca_file is not None else None
    return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=root), options=_OPTIONS)


def call_metadata(ident: NodeIdentity) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {ident.node_secret}"), (NODE_ID_KEY, ident.node_id))
