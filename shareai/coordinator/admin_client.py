"""The CLI's client for the running coordinator's admin API.

    client = AdminClient.from_env(url)          # key from SHAREAI_ADMIN_KEY
    nodes = client.get("/admin/v1/nodes")

Every non-2xx answer becomes `AdminError` with the server's OpenAI-shaped message, so CLI verbs
print one clear line and exit non-zero instead of a traceback.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from shareai.coordinator.admin import ADMIN_KEY_ENV

DEFAULT_URL = "http://127.0.0.1:8080"


class AdminError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AdminClient:
    def __init__(self, url: str, key: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._key = key
        self.timeout_s = timeout_s

    @classmethod
    def from_env(cls, url: str, key: str | None = None) -> AdminClient:
        key = key or os.environ.get(ADMIN_KEY_ENV)
        if not key:
            raise AdminError(f"no admin key: set {ADMIN_KEY_ENV} (printed by the coordinator at its first start)")
        return cls(url, key)

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
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                message = json.loads(raw)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = raw.decode(errors="replace")[:200] or exc.reason
            raise AdminError(f"{exc.code}: {message}", exc.code) from None
        except urllib.error.URLError as exc:
            raise AdminError(f"cannot reach the coordinator at {self.url}: {exc.reason}") from None
        except TimeoutError:
            raise AdminError(f"the coordinator at {self.url} did not answer within {self.timeout_s:g}s") from None
        return json.loads(raw) if raw else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, body or {})

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
