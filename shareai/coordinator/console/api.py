"""The console's JSON calls under `/console/api/`, fetched by the pages' ES modules.

Every call resolves its `Viewer` from the session first (401 without one), every state-changing call
checks CSRF (`ConsoleAuth.changing`), and every read goes through the viewer's org filter, so a member
of one org cannot reach another org's nodes, keys, usage or audit by editing a query. Changes are
made through the same parts the admin API uses, with the user as the audit actor.

    GET  me  overview  models  usage?by=&since=  usage.csv?by=&since=
    GET  nodes  keys  limits  audit?action=&actor=                     (admin and owner)
    POST enroll {org?}           a token (1 h, one use) and the install commands with it filled in
    POST nodes/{id}/drain   nodes/{id}/revoke
    POST keys {name, org?}  keys/{id}/revoke  keys/{id}/rotate        (secret shown once)
    POST playground/key {org?}   the session-scoped key for the playground (revoked at sign-out)
    GET  playground/spent        requests and cost of that key so far
    POST signin  signout         (`auth.py`)
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from shareai.coordinator.audit import AuditLog
from shareai.coordinator.console.auth import ConsoleAuth
from shareai.coordinator.console.enroll import EnrollCommands
from shareai.coordinator.console.scope import Viewer
from shareai.coordinator.console.security import harden
from shareai.coordinator.console.views import USAGE_GROUPS, ConsoleData
from shareai.coordinator.fleet.errors import NodeNotRegistered, NodeRevoked, NodeUnknown
from shareai.coordinator.governance.reports import parse_since
from shareai.wire.errors import InvalidRequest, NotFound
from shareai.wire.http import read_json

PREFIX = "/console/api"
ENROLL_TTL_S = 3600.0


def _json(value: Any, status: int = 200) -> web.StreamResponse:
    return harden(web.json_response(value, status=status))


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    body = await read_json(request, 16 * 1024)
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    return body


class ConsoleAPI:
    def __init__(self, auth: ConsoleAuth, data: ConsoleData, audit: AuditLog, enroll: EnrollCommands, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._auth = auth
        self._data = data
        self._audit = audit
        self._enroll = enroll
        self._clock = clock

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post(f"{PREFIX}/signin", self._auth.signin)
        r.add_post(f"{PREFIX}/signout", self._auth.signout)
        r.add_get(f"{PREFIX}/me", self.me)
        r.add_get(f"{PREFIX}/overview", self.overview)
        r.add_get(f"{PREFIX}/nodes", self.nodes)
        r.add_post(f"{PREFIX}/nodes/{{id}}/drain", self.drain)
        r.add_post(f"{PREFIX}/nodes/{{id}}/revoke", self.revoke_node)
        r.add_post(f"{PREFIX}/enroll", self.enroll)
        r.add_get(f"{PREFIX}/models", self.models)
        r.add_get(f"{PREFIX}/keys", self.keys)
        r.add_post(f"{PREFIX}/keys", self.create_key)
        r.add_post(f"{PREFIX}/keys/{{id}}/revoke", self.revoke_key)
        r.add_post(f"{PREFIX}/keys/{{id}}/rotate", self.rotate_key)
        r.add_post(f"{PREFIX}/playground/key", self.playground_key)
        r.add_get(f"{PREFIX}/playground/spent", self.playground_spent)
        r.add_get(f"{PREFIX}/usage", self.usage)
        r.add_get(f"{PREFIX}/usage.csv", self.usage_csv)
        r.add_get(f"{PREFIX}/limits", self.limits)
        r.add_get(f"{PREFIX}/audit", self.audit)

    def _org_query(self, request: web.Request, viewer: Viewer) -> str | None:
        return viewer.org_filter(request.query.get("org"))

    # -- everyone --------------------------------------------------------------------------------

    async def me(self, request: web.Request) -> web.StreamResponse:
        viewer, session = self._auth.viewer(request)
        return _json(self._auth.me(viewer, session, self._data.orgs()))

    async def overview(self, request: web.Request) -> web.StreamResponse:
        viewer, _ = self._auth.viewer(request)
        return _json(await self._data.overview(self._org_query(request, viewer)))

    async def models(self, request: web.Request) -> web.StreamResponse:
        viewer, _ = self._auth.viewer(request)
        return _json({"data": await self._data.models(self._org_query(request, viewer))})

    async def _usage(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        viewer, _ = self._auth.viewer(request)
        org = self._org_query(request, viewer)
        by = request.query.get("by", "day")
        if by not in USAGE_GROUPS:
            raise InvalidRequest(f"'by' must be one of {', '.join(USAGE_GROUPS)}.", param="by")
        since = parse_since(request.query.get("since"), self._clock())
        return by, await self._data.usage(by=by, org=org, since=since)

    async def usage(self, request: web.Request) -> web.StreamResponse:
        by, report = await self._usage(request)
        return _json({"by": by, **report})

    async def usage_csv(self, request: web.Request) -> web.StreamResponse:
        by, report = await self._usage(request)
        out = io.StringIO()
        fields = ["group", "requests", "errors", "cache_hits", "prompt_tokens", "completion_tokens", "total_tokens",
                  "cost_usd", "cost_per_request_usd", "latency_p50_ms", "latency_p95_ms"]
        writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in report["data"]:
            # A leading =, +, - or @ would be a formula in a spreadsheet: names are untrusted.
            group = str(row["group"])
            writer.writerow({**row, "group": "'" + group if group[:1] in "=+-@\t\r" else group})
        response = web.Response(text=out.getvalue(), content_type="text/csv", charset="utf-8",
                                headers={"Content-Disposition": f'attachment; filename="usage-by-{by}.csv"'})
        return harden(response)

    async def playground_key(self, request: web.Request) -> web.StreamResponse:
        """The session's own API key for the playground: created once per session and org, expiring
        with the session, revoked at sign-out. The page keeps the secret in memory only."""
        viewer, session = self._auth.changing(request)
        org = viewer.target_org((await _body(request)).get("org"))
        if not self._data.org_exists(org):
            raise NotFound(f"No org named '{org}'.", param="org", code="org_not_found")
        if session.playground_key is not None:
            await self._data.directory.revoke_key(viewer.actor, session.playground_key)
        expires_in = max(60.0, session.created_at + self._auth.sessions.max_s - self._clock())
        key, secret = await self._data.directory.create_key(viewer.actor, org=org, name=f"playground ({viewer.email})",
                                                            expires_in_s=expires_in)
        session.playground_key, session.playground_org = key.id, org
        return _json({"id": key.id, "org": org, "secret": secret, "expires_at": key.expires_at}, status=201)

    async def playground_spent(self, request: web.Request) -> web.StreamResponse:
        _, session = self._auth.viewer(request)
        if session.playground_key is None:
            return _json({"requests": 0, "cost_usd": 0.0, "total_tokens": 0})
        report = await self._data.usage(by="key", org=session.playground_org, key=session.playground_key,
                                        since=session.created_at - 1)
        return _json(report["total"])

    # -- admins and owners -----------------------------------------------------------------------

    def _admin(self, request: web.Request, *, changing: bool = False) -> Viewer:
        viewer, _ = self._auth.changing(request) if changing else self._auth.viewer(request)
        viewer.require("admin")
        return viewer

    async def nodes(self, request: web.Request) -> web.StreamResponse:
        viewer = self._admin(request)
        return _json({"data": self._data.nodes(self._org_query(request, viewer))})

    def _node_in_scope(self, viewer: Viewer, node_id: str) -> None:
        org = self._data.node_org(node_id)
        if org is None:
            raise NotFound("No node with that id.", code="node_not_found")
        viewer.require_org(org, "node")

    async def drain(self, request: web.Request) -> web.StreamResponse:
        viewer = self._admin(request, changing=True)
        node_id = request.match_info["id"]
        self._node_in_scope(viewer, node_id)
        try:
            self._data.fleet.drain(node_id, viewer.actor)
        except NodeUnknown:
            raise NotFound("No node with that id.", code="node_not_found") from None
        except (NodeRevoked, NodeNotRegistered) as err:
            raise InvalidRequest(err.message, code="node_not_drainable") from None
        return _json({"id": node_id, "drained": True})

    async def revoke_node(self, request: web.Request) -> web.StreamResponse:
        viewer = self._admin(request, changing=True)
        node_id = request.match_info["id"]
        self._node_in_scope(viewer, node_id)
        try:
            await self._data.fleet.revoke(node_id, viewer.actor)
        except NodeUnknown:
            raise NotFound("No node with that id.", code="node_not_found") from None
        except NodeRevoked as err:
            raise InvalidRequest(err.message, code="already_revoked") from None
        return _json({"id": node_id, "revoked": True})

    async def enroll(self, request: web.Request) -> web.StreamResponse:
        viewer = self._admin(request, changing=True)
        org = viewer.target_org((await _body(request)).get("org"))
        if not self._data.org_exists(org):
            raise NotFound(f"No org named '{org}'.", param="org", code="org_not_found")
        fleet = self._data.fleet
        info = await fleet.tokens.create(org=org, ttl_s=ENROLL_TTL_S, uses=1, actor=viewer.actor, now=fleet.clock())
        self._audit.record(actor=viewer.actor, action="token.create", target=f"org:{org}", token_id=info.id,
                           ttl_s=ENROLL_TTL_S, uses=1, org=org)
        token = info.token or ""
        return _json({"org": org, "token_id": info.id, "expires_at": info.expires_at,
                      "commands": self._enroll.commands(request, token)}, status=201)

    async def keys(self, request: web.Request) -> web.StreamResponse:
        viewer = self._admin(request)
        return _json({"data": self._data.keys(self._org_query(request, viewer))})

    def _key_in_scope(self, viewer: Viewer, key_id: str) -> None:
        key = self._data.directory.keys.get(key_id)
        if key is None:
            raise NotFound("No key with that id.", code="key_not_found")
        viewer.require_org(key.org, "key")

    async def create_key(self, request: web.Request) -> web.StreamResponse:
        viewer = self._admin(request, changing=True)
        body = await _body(request)
        org = viewer.target_org(body.get("org"))
        name = body.get("name") or ""
        if not isinstance(name, str) or len(name) > 128:
            raise InvalidRequest("'name' must be a string of at most 128 characters.", param="name")
        key, secret = await self._data.directory.create_key(viewer.actor, org=org, name=name)
        return _json({**key.to_json(), "secret": secret}, status=201)

    async def revoke_key(self, request: web.Request) -> web.StreamResponse:
        viewer = self._admin(request, changing=True)
        key_id = request.match_info["id"]
        self._key_in_scope(viewer, key_id)
        key = await self._data.directory.revoke_key(viewer.actor, key_id)
        return _json(key.to_json())

    async def rotate_key(self, request: web.Request) -> web.StreamResponse:
        viewer = self._admin(request, changing=True)
        key_id = request.match_info["id"]
        self._key_in_scope(viewer, key_id)
        key, secret = await self._data.directory.rotate_key(viewer.actor, key_id)
        return _json({**key.to_json(), "secret": secret})

    async def limits(self, request: web.Request) -> web.StreamResponse:
        viewer = self._admin(request)
        return _json({"data": self._data.limits(self._org_query(request, viewer))})

    async def audit(self, request: web.Request) -> web.StreamResponse:
        viewer = self._admin(request)
        rows = await self._data.audit(self._audit, org=self._org_query(request, viewer),
                                      action=request.query.get("action"), actor=request.query.get("actor"))
        return _json({"data": rows})
