"""The coordinator's TLS material: one certificate for the gRPC control plane and the HTTP API.

    grpc_creds, http_ssl = load_server_tls(cert, key)    # both from the same PEM files

Read and checked once at start-up, before anything opens, so a wrong path or a key that does not
match the certificate is one clear line (`TlsError`), not a handshake failure on every client.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc


class TlsError(OSError):
    """The TLS certificate or key cannot be used; the message names the file."""


def _read_pems(cert: Path, key: Path) -> dict[str, bytes]:
    pems = {}
    for what, path, marker in (("certificate", cert, b"-----BEGIN CERTIFICATE-----"),
                               ("key", key, b"PRIVATE KEY-----")):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TlsError(f"cannot read the TLS {what} {path}: {exc.strerror or exc}") from None
        if marker not in data:
            raise TlsError(f"{path} is not a PEM {what}")
        pems[what] = data
    return pems


def server_credentials(cert: Path, key: Path) -> grpc.ServerCredentials:
    """gRPC server credentials from PEM files (no client certificates: nodes prove who they are
    with their secret)."""
    pems = _read_pems(cert, key)
    return grpc.ssl_server_credentials([(pems["key"], pems["certificate"])])


def http_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side context for the HTTP API (TLS 1.2 or later; no client certificates)."""
    _read_pems(cert, key)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise TlsError(f"the TLS key {key} does not fit the certificate {cert}: {exc.reason or exc}") from None
    return ctx


def load_server_tls(cert: Path, key: Path) -> tuple[grpc.ServerCredentials, ssl.SSLContext]:
    return server_credentials(cert, key), http_ssl_context(cert, key)


@dataclass(frozen=True, slots=True)
class ServerTls:
    """The loaded TLS material of both planes, or none (`ServerTls.load(None, None)`)."""

    grpc: grpc.ServerCredentials | None
    http: ssl.SSLContext | None

    @classmethod
    def load(cls, cert: Path | None, key: Path | None) -> ServerTls:
        if cert is None or key is None:
            return cls(None, None)
        grpc_creds, http_ssl = load_server_tls(cert, key)
        return cls(grpc_creds, http_ssl)
