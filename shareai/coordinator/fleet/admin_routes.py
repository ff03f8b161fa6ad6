"""The fleet's admin HTTP API (under /admin/v1/, admin key required), used by the CLI verbs.

    POST /admin/v1/tokens               {"org", "ttl_s"?, "uses"?} -> the token, shown this once
    GET  /admin/v1/tokens               tokens without their secrets
    GET  /admin/v1/nodes[?org=O]        {"data": [node, ...]}
    GET  /admin/v1/nodes/{id}           node
    POST /admin/v1/nodes/{id}/revoke    node (now "revoked"; out of routing at once)
    POST /admin/v1/nodes/{id}/drain     node (out of routing at once; told to drain at its next beat)

A token can only name an org its `OrgLookup` knows (404 `org_not_found` otherwise: a typo would
enroll nodes into an org nobody can route to). With governance that is the org directory; a
deployment configured without governance (`[governance] enabled = false`) is given `AnyOrg`
explicitly by the composition root.

It is a coordinator part of its own (a `Subsystem` without tables or gRPC), constructed after
governance, so the fleet and governance never need each other at construction.
"""

from __future__ import annotations

from typing import Any

import grpc
from aiohttp import web

from shareai.coordinator.admin import AdminAuth
from shareai.coordinator.audit import AuditLog
from shareai.coordinator.fleet.errors import NodeNotRegistered, NodeRevoked, NodeUnknown
from shareai.coordinator.fleet.service import FleetService
from shareai.coordinator.fleet.subsystem import FleetSubsystem
from shareai.coordinator.fleet.tokens import token_state
from shareai.coordinator.interfaces import Host, OrgLookup
from shareai.coordinator.store.db import Schema
from shareai.wire.errors import InvalidRequest, NotFound
from shareai.wire.http import read_json

MAX_TTL_S = 365 * 24 * 3600.0
MAX_USES = 100_000


def _number(body: dict[str, Any], key: str, default: float, *, integer: bool = False) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise InvalidRequest(f"'{key}' must be {'an integer' if integer else 'a number'}.", param=key)
    return value


class FleetAdminRoutes:
    name = "fleet-admin"
    schemas: tuple[Schema, ...] = ()

    def __init__(self, fleet: FleetSubsystem, orgs: OrgLookup) -> None:
        self._fleet_part = fleet
        self._orgs = orgs
        self._admin: AdminAuth | None = None
        self._audit: AuditLog | None = None

    @property
    def _fleet(self) -> FleetService:
        return self._fleet_part.service

    @property
    def _admin_auth(self) -> AdminAuth:
        if self._admin is None:
            raise RuntimeError("the fleet admin routes have not started")
        return self._admin

    async def start(self, host: Host) -> None:
        self._admin = host.admin
        self._audit = host.audit
        self.add_routes(host.http_app)

    def grpc_interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        return []

    def add_grpc_services(self, server: grpc.aio.Server) -> None:
        pass

    async def close(self) -> None:
        pass

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/admin/v1/tokens", self.create_token)
        r.add_get("/admin/v1/tokens", self.list_tokens)
        r.add_get("/admin/v1/nodes", self.list_nodes)
        r.add_get("/admin/v1/nodes/{node_id}", self.show_node)
        r.add_post("/admin/v1/nodes/{node_id}/revoke", self.revoke_node)
        r.add_post("/admin/v1/nodes/{node_id}/drain", self.drain_node)

    async def create_token(self, request: web.Request) -> web.Response:
        actor = self._admin_auth.require(request)
        body = await read_json(request, 64 * 1024)
        if not isinstance(body, dict):
            raise InvalidRequest("The body must be a JSON object.")
        org = body.get("org")
        if not isinstance(org, str) or not org.strip():
            raise InvalidRequest("'org' is required.", param="org")
        ttl_s = _number(body, "ttl_s", 3600.0)
        uses = int(_number(body, "uses", 1, integer=True))
        if not 0 < ttl_s <= MAX_TTL_S:
            raise InvalidRequest(f"'ttl_s' must be in (0, {MAX_TTL_S:g}].", param="ttl_s")
        if not 1 <= uses <= MAX_USES:
            raise InvalidRequest(f"'uses' must be in [1, {MAX_USES}].", param="uses")
        org = org.strip()
        if not self._orgs.org_exists(org):
            raise NotFound(f"No org named '{org}'; create it first: shareai-coordinator org create {org}",
                           param="org", code="org_not_found")
        info = await self._fleet.tokens.create(org=org, ttl_s=ttl_s, uses=uses, actor=actor,
                                               now=self._fleet.clock())
        assert self._audit is not None  # set at start, with the admin gate checked above
        self._audit.record(actor=actor, action="token.create", target=f"org:{info.org}",
                                 token_id=info.id, ttl_s=ttl_s, uses=uses)
        return web.json_response(info.to_json(), status=201)

    async def list_tokens(self, request: web.Request) -> web.Response:
        self._admin_auth.require(request)
        now = self._fleet.clock()
        data = [{**t.to_json(), "state": token_state(t.uses_left, t.expires_at, now, t.revoked_at)}
                for t in await self._fleet.tokens.list()]
        return web.json_response({"data": data})

    async def list_nodes(self, request: web.Request) -> web.Response:
        self._admin_auth.require(request)
        org = request.query.get("org")
        records = [r for r in self._fleet.store.all() if org is None or r.org == org]
        records.sort(key=lambda r: (r.org, r.name, r.id))
        return web.json_response({"data": [self._fleet.describe(r) for r in records]})

    async def show_node(self, request: web.Request) -> web.Response:
        self._admin_auth.require(request)
        node_id = request.match_info["node_id"]
        record = self._fleet.store.get(node_id)
        if record is None:
            raise NotFound(f"No node with id '{node_id}'.", code="node_not_found")
        return web.json_response(self._fleet.describe(record))

    async def revoke_node(self, request: web.Request) -> web.Response:
        actor = self._admin_auth.require(request)
        node_id = request.match_info["node_id"]
        try:
            record = await self._fleet.revoke(node_id, actor)
        except NodeUnknown:
            raise NotFound(f"No node with id '{node_id}'.", code="node_not_found") from None
        except NodeRevoked as err:
            raise InvalidRequest(err.message, code="already_revoked") from None
        return web.json_response(self._fleet.describe(record))

    async def drain_node(self, request: web.Request) -> web.Response:
        actor = self._admin_auth.require(request)
        node_id = request.match_info["node_id"]
        try:
            record = self._fleet.drain(node_id, actor)
        except NodeUnknown:
            raise NotFound(f"No node with id '{node_id}'.", code="node_not_found") from None
        except NodeRevoked as err:
            raise InvalidRequest(err.message, code="node_revoked") from None
        except NodeNotRegistered as err:
            raise InvalidRequest(err.message, code="node_not_registered") from None
        return web.json_response(self._fleet.describe(record))
