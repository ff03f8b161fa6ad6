"""The CLI's client for the running coordinator's admin API.

    client = AdminClient.from_env(url)          # key from SHAREAI_ADMIN_KEY, CA from SHAREAI_TLS_CA
    nodes = client.get("/admin/v1/nodes")

`https://` URLs are verified against the system's CAs, or only against `SHAREAI_TLS_CA` (a PEM file,
`shareai-coordinator --tls-ca`) for a coordinator whose certificate a private CA signed. Every non-2xx
answer, and every connection or certificate failure, becomes `AdminError` with one clear line, so
CLI verbs print it and exit non-zero instead of a traceback.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from shareai.coordinator.admin import ADMIN_KEY_ENV

DEFAULT_URL = "http://127.0.0.1:8080"
TLS_CA_ENV = "SHAREAI_TLS_CA"


class AdminError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verifies the server against `ca_file` only (a private CA), else the system's CAs."""
    try:
        return ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
        raise AdminError(f"cannot use the TLS CA file {ca_file}: {reason}") from None


class AdminClient:
    def __init__(self, url: str, key: str, timeout_s: float = 30.0, *, ca_file: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._key = key
        self.timeout_s = timeout_s
        if not self.url.startswith(("http://", "https://")):
            raise AdminError(f"the coordinator URL must start with http:// or https://, got {url!r}")
        self._ssl = tls_context(ca_file) if self.url.startswith("https://") else None

    @classmethod
    def from_env(cls, url: str, key: str | None = None) -> AdminClient:
        key = key or os.environ.get(ADMIN_KEY_ENV)
        if not key:
            raise AdminError(f"no admin key: set {ADMIN_KEY_ENV} (printed by the coordinator at its first start)")
        return cls(url, key, ca_file=os.environ.get(TLS_CA_ENV) or None)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                params: dict[str, Any] | None = None) -> Any:
        url = self.url + path
        if params:
            query = {k: v for k, v in params.items() if v is not None}
            if query:
                url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self._key}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s, context=self._ssl) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                message = json.loads(raw)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = raw.decode(errors="replace")[:200] or exc.reason
            raise AdminError(f"{exc.code}: {message}", exc.code) from None
        except urllib.error.URLError as exc:
            raise AdminError(self._unreachable(exc.reason)) from None
        except (ssl.SSLError, ConnectionError, http.client.HTTPException) as exc:  # failed after the connect
            raise AdminError(self._unreachable(exc)) from None
        except TimeoutError:
            raise AdminError(f"the coordinator at {self.url} did not answer within {self.timeout_s:g}s") from None
        return json.loads(raw) if raw else None

    def _unreachable(self, reason: object) -> str:
        if isinstance(reason, ssl.SSLCertVerificationError):
            return (f"the TLS certificate of {self.url} is not trusted ({reason.verify_message}): pass its CA "
                    f"with --tls-ca PEM or {TLS_CA_ENV}")
        if isinstance(reason, ssl.SSLError):
            return f"TLS with {self.url} failed ({reason.reason or reason}); is it an https:// coordinator?"
        hint = ""
        if self.url.startswith("http://") and isinstance(reason, OSError | http.client.HTTPException):
            hint = " (if it serves TLS, use its https:// URL)"
        return f"cannot reach the coordinator at {self.url}: {reason}{hint}"

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, body or {})

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
