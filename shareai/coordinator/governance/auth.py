"""The gateway's `Authenticator`: API keys (`sk-...`) to a `Principal`, without touching the disk.

    auth = KeyAuthenticator(directory, admin=coord.admin, bootstrap_keys=config.api_keys)
    principal = await auth.authenticate(bearer_token)      # 401 when missing/unknown/revoked/expired

Org keys resolve to their org, the key's allowed models, the routing policy (the key's limits may
override the org's), the org's private flag and cache policy. Bootstrap keys (the admin key and
config `[auth].api_keys`) resolve to `Principal(org=None)`: every node, no org limits. The gateway
turns `Principal.allowed_models` into 403 for other models; this module never sees the model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Protocol

from shareai.coordinator.governance.directory import OrgDirectory
from shareai.coordinator.governance.models import key_scope
from shareai.coordinator.interfaces import Principal
from shareai.wire.errors import AuthenticationError
from shareai.wire.tokens import hash_secret, verify_secret


class AdminCheck(Protocol):
    def is_admin(self, token: str | None) -> bool:
        ...


class KeyAuthenticator:
    def __init__(self, directory: OrgDirectory, *, admin: AdminCheck | None = None,
                 bootstrap_keys: Iterable[str] = (), clock: Callable[[], float] = time.time) -> None:
        self._directory = directory
        self._admin = admin
        self._bootstrap = [hash_secret(k) for k in bootstrap_keys if k]
        self._clock = clock

    async def authenticate(self, token: str | None) -> Principal:
        return self.authenticate_now(token, self._clock())

    def authenticate_now(self, token: str | None, now: float) -> Principal:
        if not token:
            raise AuthenticationError(
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.", code="missing_api_key")
        found = self._directory.key_for_secret(token)
        if found is not None:
            key, previous = found
            if key.revoked_at is not None and key.revoked_at <= now:
                raise AuthenticationError("This API key has been revoked.", code="revoked_api_key")
            if key.expires_at is not None and key.expires_at <= now:
                raise AuthenticationError("This API key has expired.", code="expired_api_key")
            if previous and (key.prev_expires_at is None or key.prev_expires_at <= now):
                raise AuthenticationError("This API key was rotated and its grace period is over.",
                                          code="expired_api_key")
            org = self._directory.orgs.get(key.org)
            if org is None:  # the store's foreign key makes this unreachable; fail closed anyway
                raise AuthenticationError("This API key's org no longer exists.")
            key_limits = self._directory.limits_for(key_scope(key.id))
            policy = (key_limits.policy if key_limits is not None else None) or org.policy
            return Principal(
                key_id=key.id, org=org.name,
                allowed_models=frozenset(key.allowed_models) if key.allowed_models is not None else None,
                policy=policy, private=org.private, cache_mode=org.cache_mode, cache_ttl_s=org.cache_ttl_s,
            )
        if self._admin is not None and self._admin.is_admin(token):
            return Principal(key_id="admin", org=None)
        for i, digest in enumerate(self._bootstrap):
            if verify_secret(token, digest):
                return Principal(key_id=f"bootstrap-{i}", org=None)
        raise AuthenticationError("Incorrect API key provided.")
