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


def connection_hint(details: str, *, tls: bool) -> str:
    """A plain-words reason for a failed connection when gRPC's own says only "Socket closed" or
    names an OpenSSL error: most are a TLS mismatch between agent and coordinator. "" otherwise."""
    text = details.lower()
    if not tls and "socket closed" in text:
        return ("the coordinator closed the connection: it may serve TLS "
                "(use --tls, with --tls-ca for a private CA)")
    if tls and "handshake" in text:
        if "wrong_version_number" in text:
            return "TLS handshake failed: the coordinator does not seem to serve TLS (drop --tls)"
        if "certificate_verify_failed" in text or "verify" in text:
            return ("TLS handshake failed: the coordinator's certificate is not trusted "
                    "(pass its CA with --tls-ca) or does not name this address")
        return "TLS handshake failed (check --tls-ca and the coordinator's certificate)"
    return ""


def call_metadata(ident: NodeIdentity) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {ident.node_secret}"), (NODE_ID_KEY, ident.node_id))
