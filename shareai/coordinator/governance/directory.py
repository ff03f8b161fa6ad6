"""Orgs, keys and limits: an in-memory view for the request path, written through to the store.

    directory = await OrgDirectory.load(store, audit=coord.audit, clock=time.time)
    org = await directory.create_org("alice", Org(name="acme", cache_mode="deterministic"))
    key, secret = await directory.create_key("alice", org="acme", models=("gemma",))
    directory.key_for_secret(secret)          # hot path: a dict lookup by hash, no disk

Every change is written to the store first, then to memory, then to the audit log with the actor
and time, so a crash between the two never leaves a change active that the store does not have.
Admin operations run one at a time (a lock), so two concurrent updates never lose each other.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Protocol

from shareai.coordinator.governance.models import (
    DEFAULT_ROTATE_GRACE_S,
    ApiKey,
    Limits,
    Org,
    key_scope,
    org_scope,
)
from shareai.coordinator.governance.store import GovernanceStore
from shareai.wire.errors import InvalidRequest, NotFound
from shareai.wire.tokens import hash_secret, new_secret

KEY_PREFIX = "sk-"


class AuditSink(Protocol):
    def record(self, *, actor: str, action: str, target: str, **details: Any) -> Any:
        ...


class OrgDirectory:
    def __init__(self, store: GovernanceStore, audit: AuditSink, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._lock = asyncio.Lock()
        self.orgs: dict[str, Org] = {}
        self.keys: dict[str, ApiKey] = {}
        self.limits: dict[str, Limits] = {}
        self._by_hash: dict[str, str] = {}  # secret hash (current or previous) -> key id
        # Run by `delete_org(actor, name)` before the org goes (the fleet revokes its tokens and
        # nodes); each returns details for the answer. A failing hook leaves the org in place.
        self.org_delete_hooks: list[Callable[[str, str], Awaitable[dict[str, Any]]]] = []

    @classmethod
    async def load(cls, store: GovernanceStore, audit: AuditSink,
                   clock: Callable[[], float] = time.time) -> OrgDirectory:
        d = cls(store, audit, clock)
        d.orgs = {o.name: o for o in await store.orgs()}
        for key in await store.keys():
            d._index(key)
        d.limits = await store.limits()
        return d

    # -- request path ----------------------------------------------------------------------------

    def key_for_secret(self, secret: str) -> tuple[ApiKey, bool] | None:
        """The key a secret belongs to and whether it is the rotated-out (previous) secret."""
        digest = hash_secret(secret)
        key_id = self._by_hash.get(digest)
        key = self.keys.get(key_id) if key_id else None
        if key is None:
            return None
        if hmac.compare_digest(key.secret_hash, digest):
            return key, False
        if key.prev_hash is not None and hmac.compare_digest(key.prev_hash, digest):
            return key, True
        return None

    def limits_for(self, scope: str) -> Limits | None:
        return self.limits.get(scope)

    # -- admin -----------------------------------------------------------------------------------

    def _index(self, key: ApiKey) -> None:
        old = self.keys.get(key.id)
        if old is not None:
            for h in (old.secret_hash, old.prev_hash):
                if h is not None:
                    self._by_hash.pop(h, None)
        self.keys[key.id] = key
        self._by_hash[key.secret_hash] = key.id
        if key.prev_hash is not None:
            self._by_hash[key.prev_hash] = key.id

    def org(self, name: str) -> Org:
        org = self.orgs.get(name)
        if org is None:
            raise NotFound(f"No org named '{name}'.", param="org", code="org_not_found")
        return org

    def key(self, key_id: str) -> ApiKey:
        key = self.keys.get(key_id)
        if key is None:
            raise NotFound(f"No API key with id '{key_id}'.", param="id", code="key_not_found")
        return key

    async def create_org(self, actor: str, org: Org) -> Org:
        async with self._lock:
            if org.name in self.orgs:
                raise InvalidRequest(f"The org '{org.name}' already exists.", param="name", code="org_exists")
            org = replace(org, created_at=self._clock())
            await self._store.save_org(org)
            self.orgs[org.name] = org
            self._audit.record(actor=actor, action="org.create", target=org_scope(org.name), **_org_details(org))
            return org

    async def update_org(self, actor: str, name: str, changes: dict[str, Any]) -> Org:
        async with self._lock:
            org = replace(self.org(name), **changes)
            await self._store.save_org(org)
            self.orgs[name] = org
            self._audit.record(actor=actor, action="org.update", target=org_scope(name), **changes)
            return org

    async def delete_org(self, actor: str, name: str) -> dict[str, Any]:
        """Remove an org with its keys (they answer 401 from that moment) and its limits and its
        keys' limits, after `org_delete_hooks`; its usage records stay, for reports. Returns
        {"removed_keys": [ids], **what the hooks returned}."""
        async with self._lock:
            self.org(name)
            done: dict[str, Any] = {}
            for hook in self.org_delete_hooks:
                done.update(await hook(actor, name))
            removed = [k for k in self.keys.values() if k.org == name]
            for key in removed:
                await self._store.save_limits(key_scope(key.id), Limits())
                self.limits.pop(key_scope(key.id), None)
            await self._store.save_limits(org_scope(name), Limits())
            self.limits.pop(org_scope(name), None)
            await self._store.delete_org(name)
            for key in removed:
                del self.keys[key.id]
                for h in (key.secret_hash, key.prev_hash):
                    if h is not None:
                        self._by_hash.pop(h, None)
            del self.orgs[name]
            ids = [k.id for k in removed]
            self._audit.record(actor=actor, action="org.delete", target=org_scope(name), removed_keys=ids)
            return {"removed_keys": ids, **done}

    async def create_key(self, actor: str, *, org: str, name: str = "", models: tuple[str, ...] | None = None,
                         expires_in_s: float | None = None) -> tuple[ApiKey, str]:
        async with self._lock:
            self.org(org)
            secret = new_secret(KEY_PREFIX)
            now = self._clock()
            key = ApiKey(
                id="key_" + secrets.token_hex(8), org=org, name=name, secret_hash=hash_secret(secret),
                prefix=secret[:8], created_at=now, allowed_models=models,
                expires_at=now + expires_in_s if expires_in_s is not None else None,
            )
            await self._store.save_key(key)
            self._index(key)
            self._audit.record(actor=actor, action="key.create", target=key_scope(key.id), org=org, name=name,
                               models=list(models) if models is not None else None, expires_at=key.expires_at)
            return key, secret

    async def revoke_key(self, actor: str, key_id: str) -> ApiKey:
        async with self._lock:
            key = self.key(key_id)
            if key.revoked_at is None:
                key = replace(key, revoked_at=self._clock())
                await self._store.save_key(key)
                self._index(key)
            self._audit.record(actor=actor, action="key.revoke", target=key_scope(key_id), org=key.org)
            return key

    async def rotate_key(self, actor: str, key_id: str,
                         grace_s: float = DEFAULT_ROTATE_GRACE_S) -> tuple[ApiKey, str]:
        """A new secret; the old one keeps working for `grace_s` so clients can be redeployed."""
        async with self._lock:
            key = self.key(key_id)
            if key.revoked_at is not None:
                raise InvalidRequest(f"The key '{key_id}' is revoked; create a new one.", param="id",
                                     code="key_revoked")
            secret = new_secret(KEY_PREFIX)
            key = replace(key, secret_hash=hash_secret(secret), prefix=secret[:8], prev_hash=key.secret_hash,
                          prev_expires_at=self._clock() + grace_s)
            await self._store.save_key(key)
            self._index(key)
            self._audit.record(actor=actor, action="key.rotate", target=key_scope(key_id), org=key.org,
                               grace_s=grace_s)
            return key, secret

    async def set_limits(self, actor: str, scope: str, changes: dict[str, Any]) -> Limits:
        async with self._lock:
            kind, _, name = scope.partition(":")
            if kind == "org":
                self.org(name)
            else:
                self.key(name)
            limits = self.limits.get(scope, Limits()).merged(changes)
            await self._store.save_limits(scope, limits)
            if limits.is_empty():
                self.limits.pop(scope, None)
            else:
                self.limits[scope] = limits
            self._audit.record(actor=actor, action="limits.set", target=scope,
                               **{k: v for k, v in changes.items() if v is not None})
            return limits


def _org_details(org: Org) -> dict[str, Any]:
    return {"policy": org.policy, "private": org.private, "cache": org.cache_mode, "cache_ttl_s": org.cache_ttl_s}
