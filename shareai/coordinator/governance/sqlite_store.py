"""The SQLite `GovernanceStore` on the coordinator's shared database (`coord.db`).

Usage rows are written in batches by the accounting `BatchWriter` through `insert_usage`, the same
function `add_usage` uses, so there is one definition of a usage row. Reports run `reports.usage_report`
on the database thread (`db.run`), never on the event loop.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from shareai.coordinator.governance.models import ApiKey, Limits, Org, UsageTotal
from shareai.coordinator.governance.reports import ReportQuery, usage_report
from shareai.coordinator.interfaces import UsageRecord
from shareai.coordinator.store.db import Database, Schema

GOVERNANCE_SCHEMA = Schema(
    component="governance",
    migrations=(
        (1, (
            """CREATE TABLE gov_orgs (
                name TEXT PRIMARY KEY,
                policy TEXT,
                private INTEGER NOT NULL,
                cache_mode TEXT NOT NULL,
                cache_ttl_s REAL NOT NULL,
                created_at REAL NOT NULL
            )""",
            """CREATE TABLE gov_keys (
                id TEXT PRIMARY KEY,
                org TEXT NOT NULL REFERENCES gov_orgs (name),
                name TEXT NOT NULL,
                secret_hash TEXT NOT NULL UNIQUE,
                prefix TEXT NOT NULL,
                created_at REAL NOT NULL,
                allowed_models TEXT,
                expires_at REAL,
                revoked_at REAL,
                prev_hash TEXT,
                prev_expires_at REAL
            )""",
            "CREATE TABLE gov_limits (scope TEXT PRIMARY KEY, limits TEXT NOT NULL)",
            """CREATE TABLE usage_records (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ts REAL NOT NULL,
                org TEXT,
                key_id TEXT NOT NULL,
                model TEXT NOT NULL,
                route TEXT NOT NULL,
                prompt_tokens INTEGER NOT NULL,
                completion_tokens INTEGER NOT NULL,
                cost_usd REAL NOT NULL,
                latency_ms REAL NOT NULL,
                ttft_ms REAL,
                status INTEGER NOT NULL,
                attempts INTEGER NOT NULL,
                cache_hit INTEGER NOT NULL,
                stream INTEGER NOT NULL,
                endpoint TEXT NOT NULL,
                extra TEXT NOT NULL
            )""",
            "CREATE INDEX usage_records_ts ON usage_records (ts)",
            "CREATE INDEX usage_records_org_ts ON usage_records (org, ts)",
        )),
    ),
)

_USAGE_COLUMNS = ("ts, org, key_id, model, route, prompt_tokens, completion_tokens, cost_usd, latency_ms, "
                  "ttft_ms, status, attempts, cache_hit, stream, endpoint, extra")


def insert_usage(conn: sqlite3.Connection, records: Sequence[UsageRecord]) -> None:
    conn.executemany(
        f"INSERT INTO usage_records ({_USAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(r.ts, r.org, r.key_id, r.model, r.route, r.prompt_tokens, r.completion_tokens, r.cost_usd, r.latency_ms,
          r.ttft_ms, r.status, r.attempts, int(r.cache_hit), int(r.stream), r.endpoint,
          json.dumps(r.extra, sort_keys=True, default=str)) for r in records],
    )


def report_over(records: Sequence[UsageRecord], query: ReportQuery) -> dict[str, Any]:
    """The same SQL report over records held in memory (`MemoryGovernanceStore`)."""
    conn = sqlite3.connect(":memory:")
    try:
        for _, statements in sorted(GOVERNANCE_SCHEMA.migrations):
            for stmt in statements:
                conn.execute(stmt)
        insert_usage(conn, records)
        return usage_report(conn, query)
    finally:
        conn.close()


def _usage(row: sqlite3.Row) -> UsageRecord:
    return UsageRecord(
        ts=row["ts"], org=row["org"], key_id=row["key_id"], model=row["model"], route=row["route"],
        prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"], cost_usd=row["cost_usd"],
        latency_ms=row["latency_ms"], ttft_ms=row["ttft_ms"], status=row["status"], attempts=row["attempts"],
        cache_hit=bool(row["cache_hit"]), stream=bool(row["stream"]), endpoint=row["endpoint"],
        extra=json.loads(row["extra"]),
    )


def _key(row: sqlite3.Row) -> ApiKey:
    models = json.loads(row["allowed_models"]) if row["allowed_models"] is not None else None
    return ApiKey(
        id=row["id"], org=row["org"], name=row["name"], secret_hash=row["secret_hash"], prefix=row["prefix"],
        created_at=row["created_at"], allowed_models=tuple(models) if models is not None else None,
        expires_at=row["expires_at"], revoked_at=row["revoked_at"], prev_hash=row["prev_hash"],
        prev_expires_at=row["prev_expires_at"],
    )


class SqliteGovernanceStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save_org(self, org: Org) -> None:
        await self.db.execute(
            "INSERT INTO gov_orgs (name, policy, private, cache_mode, cache_ttl_s, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET policy = excluded.policy, "
            "private = excluded.private, cache_mode = excluded.cache_mode, cache_ttl_s = excluded.cache_ttl_s",
            (org.name, org.policy, int(org.private), org.cache_mode, org.cache_ttl_s, org.created_at),
        )

    async def delete_org(self, name: str) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM gov_keys WHERE org = ?", (name,))
            conn.execute("DELETE FROM gov_orgs WHERE name = ?", (name,))

        await self.db.run(delete)

    async def orgs(self) -> list[Org]:
        rows = await self.db.fetchall("SELECT * FROM gov_orgs ORDER BY name")
        return [Org(name=r["name"], policy=r["policy"], private=bool(r["private"]), cache_mode=r["cache_mode"],
                    cache_ttl_s=r["cache_ttl_s"], created_at=r["created_at"]) for r in rows]

    async def save_key(self, key: ApiKey) -> None:
        models = json.dumps(list(key.allowed_models)) if key.allowed_models is not None else None
        await self.db.execute(
            "INSERT OR REPLACE INTO gov_keys (id, org, name, secret_hash, prefix, created_at, allowed_models, "
            "expires_at, revoked_at, prev_hash, prev_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key.id, key.org, key.name, key.secret_hash, key.prefix, key.created_at, models, key.expires_at,
             key.revoked_at, key.prev_hash, key.prev_expires_at),
        )

    async def keys(self) -> list[ApiKey]:
        return [_key(r) for r in await self.db.fetchall("SELECT * FROM gov_keys ORDER BY created_at, id")]

    async def save_limits(self, scope: str, limits: Limits) -> None:
        if limits.is_empty():
            await self.db.execute("DELETE FROM gov_limits WHERE scope = ?", (scope,))
            return
        await self.db.execute(
            "INSERT INTO gov_limits (scope, limits) VALUES (?, ?) "
            "ON CONFLICT(scope) DO UPDATE SET limits = excluded.limits",
            (scope, json.dumps(limits.to_json(), sort_keys=True)),
        )

    async def limits(self) -> dict[str, Limits]:
        rows = await self.db.fetchall("SELECT scope, limits FROM gov_limits")
        return {r["scope"]: Limits(**json.loads(r["limits"])) for r in rows}

    async def add_usage(self, records: Sequence[UsageRecord]) -> None:
        batch = list(records)
        await self.db.run(lambda conn: insert_usage(conn, batch))

    async def usage(self, *, since: float | None = None, until: float | None = None,
                    org: str | None = None) -> list[UsageRecord]:
        sql = f"SELECT {_USAGE_COLUMNS} FROM usage_records WHERE ts >= ?"
        params: list[Any] = [since if since is not None else float("-inf")]
        if until is not None:
            sql += " AND ts < ?"
            params.append(until)
        if org is not None:
            sql += " AND org = ?"
            params.append(org)
        sql += " ORDER BY ts, id"
        return [_usage(r) for r in await self.db.fetchall(sql, params)]

    async def usage_report(self, query: ReportQuery) -> dict[str, Any]:
        return await self.db.run(lambda conn: usage_report(conn, query))

    async def usage_totals(self, *, since: float) -> list[UsageTotal]:
        rows = await self.db.fetchall(
            "SELECT org, key_id, SUM(prompt_tokens + completion_tokens) AS tokens, SUM(cost_usd) AS cost "
            "FROM usage_records WHERE ts >= ? AND cache_hit = 0 GROUP BY org, key_id", (since,))
        return [UsageTotal(r["org"], r["key_id"], int(r["tokens"] or 0), float(r["cost"] or 0.0)) for r in rows]
