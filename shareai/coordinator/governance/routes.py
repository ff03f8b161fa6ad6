"""The governance admin API under `/admin/v1/` (what `shareai-coordinator org|key|limits|usage|audit` call).

    GET  /admin/v1/orgs                      POST /admin/v1/orgs {name, policy, private, cache, cache_ttl_s}
    POST /admin/v1/orgs/{name}   (update, absent fields unchanged)
    DELETE /admin/v1/orgs/{name} (its keys and limits go, its fleet tokens and nodes are revoked; usage stays)
    GET  /admin/v1/keys?org=                 POST /admin/v1/keys {org, name, models, expires}  -> secret once
    POST /admin/v1/keys/{id}/revoke          POST /admin/v1/keys/{id}/rotate {grace}            -> secret once
    GET  /admin/v1/limits?org=               POST /admin/v1/limits {org, key, rpm, tpm, daily_tokens, ...}
    GET  /admin/v1/usage?by=&org=&key=&since=   GET  /admin/v1/audit?since=&action=&limit=

Every route requires the admin key (`AdminAuth.require`, 401 otherwise) and every change is
audited by the `OrgDirectory` with the actor. Bad input is a 400 naming the field.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from shareai.coordinator.audit import AuditLog
from shareai.coordinator.governance.directory import OrgDirectory
from shareai.coordinator.governance.models import (
    DEFAULT_ROTATE_GRACE_S,
    Org,
    check_cache_mode,
    check_name,
    check_number,
    check_policy,
    key_scope,
    org_scope,
    parse_duration,
)
from shareai.coordinator.governance.reports import ReportQuery, check_group, default_since
from shareai.coordinator.governance.reports import parse_since as _parse_since
from shareai.coordinator.governance.store import GovernanceStore
from shareai.wire.errors import AccountingBacklog, InvalidRequest
from shareai.wire.http import read_json

PREFIX = "/admin/v1"
_ADMIN_BODY_BYTES = 64 * 1024


class AdminGate(Protocol):
    def require(self, request: web.Request) -> str:
        ...


def _flag(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidRequest(f"'{name}' must be a boolean.", param=name)
    return value


def _models(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [m.strip() for m in value.split(",") if m.strip()]
    if not isinstance(value, list) or not all(isinstance(m, str) and m for m in value):
        raise InvalidRequest("'models' must be a list of model names.", param="models")
    return tuple(value)


async def _body(request: web.Request) -> dict[str, Any]:
    body = await read_json(request, _ADMIN_BODY_BYTES)
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


class GovernanceAdminRoutes:
    def __init__(self, directory: OrgDirectory, store: GovernanceStore, audit: AuditLog, admin: AdminGate,
                 flush_usage: Callable[[], Awaitable[None]], clock: Callable[[], float] = time.time) -> None:
        self._d = directory
        self._store = store
        self._audit = audit
        self._admin = admin
        self._flush_usage = flush_usage
        self._clock = clock

    def add_routes(self, app: web.Application) -> None:
        router = app.router
        router.add_get(f"{PREFIX}/orgs", self.list_orgs)
        router.add_post(f"{PREFIX}/orgs", self.create_org)
        router.add_post(f"{PREFIX}/orgs/{{name}}", self.update_org)
        router.add_delete(f"{PREFIX}/orgs/{{name}}", self.delete_org)
        router.add_get(f"{PREFIX}/keys", self.list_keys)
        router.add_post(f"{PREFIX}/keys", self.create_key)
        router.add_post(f"{PREFIX}/keys/{{id}}/revoke", self.revoke_key)
        router.add_post(f"{PREFIX}/keys/{{id}}/rotate", self.rotate_key)
        router.add_get(f"{PREFIX}/limits", self.list_limits)
        router.add_post(f"{PREFIX}/limits", self.set_limits)
        router.add_get(f"{PREFIX}/usage", self.usage_report)
        router.add_get(f"{PREFIX}/audit", self.audit_list)

    def _org_json(self, org: Org) -> dict[str, Any]:
        limits = self._d.limits_for(org_scope(org.name))
        return {**org.to_json(), "limits": limits.to_json() if limits is not None else None}

    async def list_orgs(self, request: web.Request) -> web.Response:
        self._admin.require(request)
        return web.json_response({"data": [self._org_json(o) for o in sorted(self._d.orgs.values(),
                                                                              key=lambda o: o.name)]})

    async def delete_org(self, request: web.Request) -> web.Response:
        actor = self._admin.require(request)
        name = request.match_info["name"]
        removed = await self._d.delete_org(actor, name)
        return web.json_response({"name": name, "deleted": True, **removed})

    def _org_changes(self, body: dict[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if "policy" in body:
            changes["policy"] = check_policy(body["policy"])
        private = _flag(body, "private")
        if private is not None:
            changes["private"] = private
        if body.get("cache") is not None:
            changes["cache_mode"] = check_cache_mode(body["cache"])
        if body.get("cache_ttl_s") is not None:
            ttl = check_number(body["cache_ttl_s"], "cache_ttl_s", integer=False)
            if not ttl:
                raise InvalidRequest("'cache_ttl_s' must be > 0.", param="cache_ttl_s")
            changes["cache_ttl_s"] = float(ttl)
        return changes

    async def create_org(self, request: web.Request) -> web.Response:
        actor = self._admin.require(request)
        body = await _body(request)
        name = check_name(body.get("name"), "name")
        org = await self._d.create_org(actor, Org(name=name, **self._org_changes(body)))
        return web.json_response(self._org_json(org), status=201)

    async def update_org(self, request: web.Request) -> web.Response:
        actor = self._admin.require(request)
        body = await _body(request)
        changes = self._org_changes(body)
        if not changes:
            raise InvalidRequest("Nothing to update: give policy, private, cache or cache_ttl_s.")
        org = await self._d.update_org(actor, request.match_info["name"], changes)
        return web.json_response(self._org_json(org))

    async def list_keys(self, request: web.Request) -> web.Response:
        self._admin.require(request)
        org = request.query.get("org")
        keys = [k for k in self._d.keys.values() if org is None or k.org == org]
        keys.sort(key=lambda k: (k.created_at, k.id))
        return web.json_response({"data": [k.to_json() for k in keys]})

    async def create_key(self, request: web.Request) -> web.Response:
        actor = self._admin.require(request)
        body = await _body(request)
        org = check_name(body.get("org"), "org")
        name = body.get("name") or ""
        if not isinstance(name, str) or len(name) > 128:
            raise InvalidRequest("'name' must be a string of at most 128 characters.", param="name")
        expires = body.get("expires")
        expires_in = parse_duration(expires, "expires") if expires not in (None, "") else None
        key, secret = await self._d.create_key(actor, org=org, name=name, models=_models(body.get("models")),
                                               expires_in_s=expires_in)
        return web.json_response({**key.to_json(), "secret": secret}, status=201)

    async def revoke_key(self, request: web.Request) -> web.Response:
        actor = self._admin.require(request)
        key = await self._d.revoke_key(actor, request.match_info["id"])
        return web.json_response(key.to_json())

    async def rotate_key(self, request: web.Request) -> web.Response:
        actor = self._admin.require(request)
        body = await _body(request) if request.can_read_body else {}
        grace = body.get("grace")
        grace_s = parse_duration(grace, "grace") if grace not in (None, "") else DEFAULT_ROTATE_GRACE_S
        key, secret = await self._d.rotate_key(actor, request.match_info["id"], grace_s)
        return web.json_response({**key.to_json(), "secret": secret})

    async def list_limits(self, request: web.Request) -> web.Response:
        self._admin.require(request)
        org = request.query.get("org")
        data = []
        for scope, limits in sorted(self._d.limits.items()):
            kind, _, name = scope.partition(":")
            owner = name if kind == "org" else (self._d.keys[name].org if name in self._d.keys else None)
            if org is None or owner == org:
                data.append({"scope": scope, "org": owner, **limits.to_json()})
        return web.json_response({"data": data})

    async def set_limits(self, request: web.Request) -> web.Response:
        actor = self._admin.require(request)
        body = await _body(request)
        org = check_name(body.get("org"), "org")
        key_id = body.get("key")
        changes: dict[str, Any] = {}
        for name in ("rpm", "tpm", "daily_tokens", "monthly_tokens"):
            changes[name] = check_number(body.get(name), name, integer=True)
        for name in ("daily_cost", "monthly_cost"):
            value = check_number(body.get(name), name, integer=False)
            changes[name] = float(value) if value is not None else None
        if key_id is not None:
            if not isinstance(key_id, str) or self._d.key(key_id).org != org:
                raise InvalidRequest(f"The key '{key_id}' does not belong to the org '{org}'.", param="key")
            if "policy" in body:
                changes["policy"] = check_policy(body["policy"]) or ""
            limits = await self._d.set_limits(actor, key_scope(key_id), changes)
            return web.json_response({"scope": key_scope(key_id), "org": org, **limits.to_json()})
        self._d.org(org)
        if "policy" in body:  # an org's routing policy lives on the org itself
            await self._d.update_org(actor, org, {"policy": check_policy(body["policy"])})
        limits = await self._d.set_limits(actor, org_scope(org), changes)
        return web.json_response({"scope": org_scope(org), "org": org, **limits.to_json(),
                                  "policy": self._d.org(org).policy})

    async def usage_report(self, request: web.Request) -> web.Response:
        """Aggregated by the database on its own thread (reports.py); the last 30 days without `since`."""
        self._admin.require(request)
        by = check_group(request.query.get("by", "model"))
        now = self._clock()
        since = _parse_since(request.query.get("since"), now)
        query = ReportQuery(by=by, since=default_since(now) if since is None else since,
                            org=request.query.get("org"), key=request.query.get("key") or None)
        try:
            await self._flush_usage()  # the report includes every request accounted before it was asked
        except Exception:  # logged by the writer; the records stay pending
            raise AccountingBacklog("Usage records cannot be written to the database now; a report would "
                                    "be incomplete. Please retry shortly.") from None
        report = await self._store.usage_report(query)
        return web.json_response({"by": by, "since": query.since, "org": query.org, "key": query.key, **report})

    async def audit_list(self, request: web.Request) -> web.Response:
        self._admin.require(request)
        since = _parse_since(request.query.get("since"), self._clock())
        try:
            limit = int(request.query.get("limit", "1000"))
        except ValueError:
            raise InvalidRequest("'limit' must be an integer.", param="limit") from None
        events = await self._audit.list(since=since, action_prefix=request.query.get("action"),
                                        limit=max(1, min(limit, 10_000)))
        return web.json_response({"data": [e.to_json() for e in events]})
