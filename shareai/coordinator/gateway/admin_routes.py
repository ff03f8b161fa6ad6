"""Admin routes of the gateway (admin key only):

    GET  /admin/v1/routes?model=M      every route that can serve M now: providers and nodes, with prices
    GET  /admin/v1/faults              the routes whose calls are failed on purpose, and their hit counts
    POST /admin/v1/faults              {"route": "provider-a", "enabled": true}: fail the gateway's own
                                       calls to that route at the transport (the failover path runs)

The acceptance check (`shareai-coordinator smoke`) discovers routes and proves failover with these.
Fault changes are audited.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from shareai.coordinator.gateway.health import RouteHealth
from shareai.coordinator.gateway.targets import CHAT, Catalog
from shareai.coordinator.interfaces import Host, Principal
from shareai.wire.errors import InvalidRequest, NotFound
from shareai.wire.http import read_json

# Admin sees every org's nodes and every provider.
_ADMIN = Principal(key_id="admin", org=None)


class GatewayAdminRoutes:
    def __init__(self, coord: Host, catalog: Catalog, health: RouteHealth) -> None:
        self._coord = coord
        self._catalog = catalog
        self._health = health

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/admin/v1/routes", self.routes)
        app.router.add_get("/admin/v1/faults", self.list_faults)
        app.router.add_post("/admin/v1/faults", self.set_fault)

    async def routes(self, request: web.Request) -> web.Response:
        self._coord.admin.require(request)
        model = request.query.get("model")
        if not model:
            raise InvalidRequest("Query parameter 'model' is required.", param="model")
        now = self._health.settings.clock()
        targets = self._catalog.targets(self._catalog.lookup(model, _ADMIN), _ADMIN, CHAT)
        data: list[dict[str, Any]] = []
        for t in targets:
            data.append({
                "route": t.route,
                "kind": t.kind,
                "upstream_model": t.upstream_model,
                "input_per_mtok": t.input_per_mtok,
                "output_per_mtok": t.output_per_mtok,
                "circuit": self._health.state(t.route, now),
                "fault": self._health.faulted(t.route),
            })
        return web.json_response({"model": model, "data": data})

    async def list_faults(self, request: web.Request) -> web.Response:
        self._coord.admin.require(request)
        hits = self._health.faults()
        return web.json_response({"data": [{"route": r, "hits": n} for r, n in sorted(hits.items())]})

    async def set_fault(self, request: web.Request) -> web.Response:
        actor = self._coord.admin.require(request)
        body = await read_json(request, 64 * 1024)
        route = body.get("route") if isinstance(body, dict) else None
        enabled = body.get("enabled", True) if isinstance(body, dict) else None
        if not isinstance(route, str) or not route:
            raise InvalidRequest("'route' must name a provider or node:<id>.", param="route")
        if not isinstance(enabled, bool):
            raise InvalidRequest("'enabled' must be a boolean.", param="enabled")
        if route not in self._catalog.provider_names and not route.startswith("node:"):
            raise NotFound(f"No provider named {route!r}.", param="route", code="unknown_route")
        hits = self._health.fault(route, enabled)
        self._coord.audit.record(actor=actor, action="fault.enable" if enabled else "fault.disable", target=route,
                                 hits=hits)
        return web.json_response({"route": route, "enabled": enabled, "hits": hits})
