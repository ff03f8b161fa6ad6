"""The data behind each console page, from the coordinator's parts, for one org (or all: owners).

    data = ConsoleData(fleet=fleet, governance=gov, gateway=gateway, audit=coord.audit, clock=clock)
    await data.overview(org="acme")      # requests, tokens and cost today; nodes online; circuits
    data.nodes(org="acme")               # the org's nodes, as the nodes table shows them

Each method takes the org filter the caller's `Viewer` produced (`scope.py`) and never widens it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shareai.coordinator.audit import AuditEvent, AuditLog
from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.fleet.service import FleetService
from shareai.coordinator.fleet.subsystem import FleetSubsystem
from shareai.coordinator.fleet.views import load_summary
from shareai.coordinator.gateway.subsystem import GatewaySubsystem
from shareai.coordinator.gateway.targets import CHAT, Catalog
from shareai.coordinator.governance.directory import OrgDirectory
from shareai.coordinator.governance.quota import day_start
from shareai.coordinator.governance.reports import ReportQuery, default_since
from shareai.coordinator.governance.subsystem import GovernanceSubsystem
from shareai.coordinator.interfaces import Principal
from shareai.wire.errors import AccountingBacklog

USAGE_GROUPS = ("day", "model", "route", "key")
MODELS_WINDOW_S = 24 * 3600.0  # p50 latency and availability of each route over the last day
AUDIT_SCAN = 10_000  # the newest events the audit page filters by actor and org


class ConsoleData:
    def __init__(self, *, config: CoordinatorConfig, fleet: FleetSubsystem, governance: GovernanceSubsystem,
                 gateway: GatewaySubsystem, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._fleet = fleet
        self._gov = governance
        self._gateway = gateway
        self._clock = clock

    @property
    def fleet(self) -> FleetService:
        return self._fleet.service

    @property
    def directory(self) -> OrgDirectory:
        return self._gov.directory

    @property
    def catalog(self) -> Catalog:
        router = self._gateway.router
        if router is None:
            raise RuntimeError("the gateway has not started")
        return router.catalog

    # -- usage -----------------------------------------------------------------------------------

    async def usage(self, *, by: str, org: str | None, since: float | None = None,
                    key: str | None = None) -> dict[str, Any]:
        now = self._clock()
        try:
            await self._gov.writer.flush()  # a report includes every request accounted before it
        except Exception:
            raise AccountingBacklog("Usage records cannot be written now; please retry shortly.") from None
        query = ReportQuery(by=by, since=default_since(now) if since is None else since, org=org, key=key)
        return await self._gov.store.usage_report(query)

    # -- pages -----------------------------------------------------------------------------------

    async def overview(self, org: str | None) -> dict[str, Any]:
        now = self._clock()
        today = await self.usage(by="model", org=org, since=day_start(now))
        nodes = [self.fleet.describe(r) for r in self._node_records(org)]
        health = self._gateway.health
        return {
            "today": today["total"],
            "nodes": {"online": sum(1 for n in nodes if n["status"] == "online"), "total": len(nodes)},
            "providers": [{"name": p.name, "circuit": health.state(p.name, now), "models": [m.name for m in p.models]}
                          for p in self._config.providers],
        }

    def _node_records(self, org: str | None) -> list[Any]:
        records = [r for r in self.fleet.store.all() if org is None or r.org == org]
        records.sort(key=lambda r: (r.org, r.name, r.id))
        return records

    def node_org(self, node_id: str) -> str | None:
        record = self.fleet.store.get(node_id)
        return record.org if record is not None else None

    def nodes(self, org: str | None) -> list[dict[str, Any]]:
        rows = []
        for record in self._node_records(org):
            v = self.fleet.describe(record)
            rows.append({
                "id": v["id"], "name": v["name"], "org": v["org"], "status": v["status"],
                "availability": v.get("availability"), "gpus": [g["name"] for g in v["gpus"]],
                "load": load_summary(v), "models": v["models"], "price": v["price"], "last_seen": v["last_seen"],
                "agent_version": v["agent_version"],
            })
        return rows

    async def models(self, org: str | None) -> list[dict[str, Any]]:
        """Every model the org can call, each with the routes serving it now, their prices and the
        routes' p50 latency and availability over the last day."""
        now = self._clock()
        principal = Principal(key_id="console", org=org)
        stats = {g["group"]: g for g in (await self.usage(by="route", org=org, since=now - MODELS_WINDOW_S))["data"]}
        health = self._gateway.health
        catalog = self.catalog
        out = []
        for name in catalog.model_names(principal):
            routes = []
            for t in catalog.targets(catalog.lookup(name, principal), principal, CHAT):
                s = stats.get(t.route)
                routes.append({
                    "route": t.route, "kind": t.kind, "input_per_mtok": t.input_per_mtok,
                    "output_per_mtok": t.output_per_mtok, "circuit": health.state(t.route, now),
                    "latency_p50_ms": s["latency_p50_ms"] if s else None,
                    "availability": round(1 - s["errors"] / s["requests"], 4) if s and s["requests"] else None,
                    "node_name": t.node.name if t.node is not None else None,
                })
            out.append({"model": name, "routes": routes})
        return out

    def keys(self, org: str | None) -> list[dict[str, Any]]:
        keys = [k for k in self.directory.keys.values() if org is None or k.org == org]
        keys.sort(key=lambda k: (k.created_at, k.id))
        now = self._clock()
        out = []
        for k in keys:
            state = "revoked" if k.revoked_at is not None else (
                "expired" if k.expires_at is not None and k.expires_at <= now else "active")
            out.append({**k.to_json(), "state": state})
        return out

    def limits(self, org: str | None) -> list[dict[str, Any]]:
        d = self.directory
        data = []
        for scope, limits in sorted(d.limits.items()):
            kind, _, name = scope.partition(":")
            owner = name if kind == "org" else (d.keys[name].org if name in d.keys else None)
            if org is None or owner == org:
                data.append({"scope": scope, "org": owner, **limits.to_json()})
        return data

    def orgs(self) -> list[str]:
        return sorted(self.directory.orgs)

    def org_exists(self, org: str) -> bool:
        return org in self.directory.orgs

    def event_org(self, event: AuditEvent) -> str | None:
        """The org an audit event concerns, where it names one (directly, or by its node or key)."""
        org = event.details.get("org")
        if isinstance(org, str):
            return org
        kind, _, name = event.target.partition(":")
        if kind == "org":
            return name
        if kind == "node":
            return self.node_org(name)
        if kind == "key":
            key = self.directory.keys.get(name)
            return key.org if key is not None else None
        return None

    async def audit(self, log: AuditLog, *, org: str | None, action: str | None, actor: str | None,
                    limit: int = 500) -> list[dict[str, Any]]:
        events = await log.list(action_prefix=action or None, limit=AUDIT_SCAN, newest_first=True)
        rows = []
        for e in events:
            if actor and actor.lower() not in e.actor.lower():
                continue
            if org is not None and self.event_org(e) != org:
                continue
            rows.append(e.to_json())
            if len(rows) >= limit:
                break
        return rows
