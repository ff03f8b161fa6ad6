"""What a deployment without governance runs instead, chosen explicitly, never found missing.

    EmptyDirectory          no nodes: only providers route (tests of a gateway without a fleet)
    StaticKeyAuthenticator  the admin key and config `[auth].api_keys`, as `Principal(org=None)`
    NoopGovernor            no limits, no cache; keeps the last N usage records in memory
    AnyOrg                  every org name exists (fleet enrollment tokens without an org directory)

`compose.build_coordinator` uses the last three only when the config says `[governance] enabled =
false`, and logs it at start; with governance on (the default) the real objects are passed.
"""

from __future__ import annotations

import hmac
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from shareai.coordinator.interfaces import CachedResponse, NodeRoute, Principal, UsageRecord
from shareai.coordinator.price import Price
from shareai.wire.errors import AuthenticationError
from shareai.wire.tokens import hash_secret


class EmptyDirectory:
    def routes_for(self, model: str, org: str | None) -> list[NodeRoute]:
        return []

    def model_names(self, org: str | None) -> set[str]:
        return set()

    def knows_node(self, node_id: str, org: str | None) -> bool:
        return False


class StaticKeyAuthenticator:
    """Bootstrap keys: hashes kept in memory, compared in constant time, never logged."""

    def __init__(self, keys: Iterable[str], is_admin: Callable[[str | None], bool] | None = None) -> None:
        self._hashes = [hash_secret(k) for k in keys if k]
        self._is_admin = is_admin

    async def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise AuthenticationError(
                "You didn't provide an API key. Send 'Authorization: Bearer <key>'.", code="missing_api_key")
        if self._is_admin is not None and self._is_admin(token):
            return Principal(key_id="admin", org=None)
        digest = hash_secret(token)
        matched = None
        for i, stored in enumerate(self._hashes):
            if hmac.compare_digest(digest, stored):  # no early exit: the loop always runs to the end
                matched = i
        if matched is None:
            raise AuthenticationError("Incorrect API key provided.")
        return Principal(key_id=f"config:{matched}", org=None)


class _NoopAdmission:
    headers: dict[str, str] = {}
    token_limited = False

    def settle(self, *, prompt_tokens: int, completion_tokens: int, cost_usd: float) -> None:
        pass

    def release(self) -> None:
        pass


class NoopGovernor:
    def __init__(self, keep: int = 1000) -> None:
        self.records: deque[UsageRecord] = deque(maxlen=keep)
        self._admission = _NoopAdmission()

    async def admit(self, principal: Principal, *, model: str, prompt_tokens: int, max_tokens: int,
                    max_price: Price | None = None) -> _NoopAdmission:
        return self._admission

    def cache_get(self, principal: Principal, request: dict[str, Any]) -> CachedResponse | None:
        return None

    def cache_put(self, principal: Principal, request: dict[str, Any], response: CachedResponse) -> None:
        pass

    def record(self, usage: UsageRecord) -> None:
        self.records.append(usage)

    def rate_headers(self, principal: Principal) -> dict[str, str]:
        return {}


class AnyOrg:
    def org_exists(self, org: str) -> bool:
        return True
