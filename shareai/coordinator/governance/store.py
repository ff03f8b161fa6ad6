"""Where governance keeps its state: the `GovernanceStore` interface and its in-memory version.

    store = SqliteGovernanceStore(coord.db)       # the default (sqlite_store.py)
    store = MemoryGovernanceStore()               # tests, throwaway gateways
    await store.save_org(Org("acme"))
    rows = await store.usage(since=t0, org="acme")

Both pass one shared test suite (tests/coordinator/governance/test_store.py). Orgs, keys and limits
are small and read whole at start-up (the hot path reads the in-memory `OrgDirectory`); usage grows and
is queried by time window. Reports are one SQL aggregation (`reports.usage_report`) in both: the
memory store runs it over a throwaway in-memory SQLite copy of its rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

from shareai.coordinator.governance.models import ApiKey, Limits, Org, UsageTotal
from shareai.coordinator.governance.reports import ReportQuery
from shareai.coordinator.interfaces import UsageRecord


class GovernanceStore(Protocol):
    async def save_org(self, org: Org) -> None:
        """Insert or replace by name."""
        ...

    async def orgs(self) -> list[Org]:
        ...

    async def delete_org(self, name: str) -> None:
        """Remove the org and its keys (its usage records stay, for reports)."""
        ...

    async def save_key(self, key: ApiKey) -> None:
        """Insert or replace by id."""
        ...

    async def keys(self) -> list[ApiKey]:
        ...

    async def save_limits(self, scope: str, limits: Limits) -> None:
        """Empty limits delete the scope's row."""
        ...

    async def limits(self) -> dict[str, Limits]:
        ...

    async def add_usage(self, records: Sequence[UsageRecord]) -> None:
        ...

    async def usage(self, *, since: float | None = None, until: float | None = None,
                    org: str | None = None) -> list[UsageRecord]:
        """Records with `since <= ts < until`, oldest first."""
        ...

    async def usage_report(self, query: ReportQuery) -> dict[str, Any]:
        """`{"data": [per-group figures], "total": {...}}`, aggregated by the database (reports.py)."""
        ...

    async def usage_totals(self, *, since: float) -> list[UsageTotal]:
        """Per org and key since `since`, without cache hits (they cost nothing and use no quota)."""
        ...


class MemoryGovernanceStore:
    def __init__(self) -> None:
        self._orgs: dict[str, Org] = {}
        self._keys: dict[str, ApiKey] = {}
        self._limits: dict[str, Limits] = {}
        self._usage: list[UsageRecord] = []

    async def save_org(self, org: Org) -> None:
        self._orgs[org.name] = org

    async def orgs(self) -> list[Org]:
        return sorted(self._orgs.values(), key=lambda o: o.name)

    async def delete_org(self, name: str) -> None:
        self._orgs.pop(name, None)
        self._keys = {k: v for k, v in self._keys.items() if v.org != name}

    async def save_key(self, key: ApiKey) -> None:
        self._keys[key.id] = key

    async def keys(self) -> list[ApiKey]:
        return sorted(self._keys.values(), key=lambda k: (k.created_at, k.id))

    async def save_limits(self, scope: str, limits: Limits) -> None:
        if limits.is_empty():
            self._limits.pop(scope, None)
        else:
            self._limits[scope] = limits

    async def limits(self) -> dict[str, Limits]:
        return dict(self._limits)

    async def add_usage(self, records: Sequence[UsageRecord]) -> None:
        self._usage.extend(dataclasses.replace(r, extra=dict(r.extra)) for r in records)

    async def usage(self, *, since: float | None = None, until: float | None = None,
                    org: str | None = None) -> list[UsageRecord]:
        rows = [r for r in self._usage
                if (since is None or r.ts >= since) and (until is None or r.ts < until)
                and (org is None or r.org == org)]
        return sorted(rows, key=lambda r: r.ts)

    async def usage_report(self, query: ReportQuery) -> dict[str, Any]:
        from shareai.coordinator.governance.sqlite_store import report_over  # SQLite only when reporting

        return report_over(self._usage, query)

    async def usage_totals(self, *, since: float) -> list[UsageTotal]:
        totals: dict[tuple[str | None, str], UsageTotal] = {}
        for r in self._usage:
            if r.ts < since or r.cache_hit:
                continue
            prev = totals.get((r.org, r.key_id), UsageTotal(r.org, r.key_id, 0, 0.0))
            totals[(r.org, r.key_id)] = UsageTotal(
                r.org, r.key_id, prev.tokens + r.prompt_tokens + r.completion_tokens, prev.cost + r.cost_usd)
        return list(totals.values())
