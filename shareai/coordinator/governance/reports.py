"""Usage reports: requests, tokens, cost and latency percentiles per group, aggregated in SQL.

    query = ReportQuery(by="route", since=parse_since("7d", now) or default_since(now), org="acme")
    report = await store.usage_report(query)   # {"data": [{"group": "provider-a", "requests": 12, ...}], "total": ...}

Comparing the same model across routes is the point: group by `route` (or `model`) and read cost
per request and p50/p95 latency side by side.

The aggregation is one SQL statement (`usage_report(conn, query)`), run on the database's worker
thread, so the event loop never walks the rows and memory stays flat whatever the table holds.
Percentiles are exact nearest-rank over the group: the value at rank ceil(p/100 * n) of the group's
latencies in ascending order, found with `ROW_NUMBER()` over a per-group sort (integer arithmetic:
(p*n + 99) / 100, so no float rounding). Without `since` a report covers the last 30 days
(`DEFAULT_WINDOW_S`).
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shareai.coordinator.governance.models import parse_duration
from shareai.wire.errors import InvalidRequest

GROUPS = ("model", "route", "org", "key", "day")
DEFAULT_WINDOW_S = 30 * 86400.0  # a report without `since` covers the last 30 days

# The group expression of each `by` (constants only: nothing from the request reaches the SQL text).
_GROUP_SQL = {
    "model": "model",
    "route": "route",
    "org": "COALESCE(org, '(bootstrap)')",
    "key": "key_id",
    "day": "strftime('%Y-%m-%d', ts, 'unixepoch')",
}


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """Records with `since <= ts < until` (until: no end), of one org and one key when given."""

    by: str
    since: float
    until: float | None = None
    org: str | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        check_group(self.by)


def check_group(by: str) -> str:
    if by not in GROUPS:
        raise InvalidRequest(f"'by' must be one of {', '.join(GROUPS)}; got {by!r}.", param="by")
    return by


def default_since(now: float) -> float:
    return now - DEFAULT_WINDOW_S


def _sql(query: ReportQuery) -> tuple[str, list[Any]]:
    where = ["ts >= ?"]
    params: list[Any] = [query.since]
    if query.until is not None:
        where.append("ts < ?")
        params.append(query.until)
    if query.org is not None:
        where.append("org = ?")
        params.append(query.org)
    if query.key is not None:
        where.append("key_id = ?")
        params.append(query.key)
    sql = f"""
        WITH f AS (
            SELECT {_GROUP_SQL[query.by]} AS g, latency_ms, status, cache_hit, prompt_tokens, completion_tokens,
                   cost_usd
            FROM usage_records WHERE {' AND '.join(where)}
        ), r AS (
            SELECT *, ROW_NUMBER() OVER (PARTITION BY g ORDER BY latency_ms) AS rn,
                   COUNT(*) OVER (PARTITION BY g) AS n
            FROM f
        )
        SELECT g, COUNT(*) AS requests, SUM(status >= 400) AS errors, SUM(cache_hit) AS cache_hits,
               SUM(prompt_tokens) AS prompt, SUM(completion_tokens) AS completion, SUM(cost_usd) AS cost,
               MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN latency_ms END) AS p50,
               MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN latency_ms END) AS p95
        FROM r GROUP BY g ORDER BY g
    """
    return sql, params


def usage_report(conn: sqlite3.Connection, query: ReportQuery) -> dict[str, Any]:
    """The report over `usage_records` on `conn` (call it on the database thread: `db.run`)."""
    sql, params = _sql(query)
    groups: list[dict[str, Any]] = []
    for g, requests, errors, cache_hits, prompt, completion, cost, p50, p95 in conn.execute(sql, params):
        cost = float(cost or 0.0)
        groups.append({
            "group": g,
            "requests": requests,
            "errors": errors,
            "cache_hits": cache_hits,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "cost_usd": round(cost, 10),
            "cost_per_request_usd": round(cost / requests, 10),
            "latency_p50_ms": p50,
            "latency_p95_ms": p95,
        })
    return {
        "data": groups,
        "total": {
            "requests": sum(g["requests"] for g in groups),
            "total_tokens": sum(g["total_tokens"] for g in groups),
            "cost_usd": round(sum(g["cost_usd"] for g in groups), 10),
        },
    }


def parse_since(text: str | None, now: float) -> float | None:
    """`--since`: a duration back from now (`24h`, `7d`), an ISO date/time (UTC if no zone), or epoch seconds."""
    if text is None or text == "":
        return None
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise InvalidRequest(f"'since' must be a finite number of epoch seconds; got {text!r}.", param="since")
        return value
    if text[-1:].lower() in ("s", "m", "h", "d", "w") and text[:-1].replace(".", "", 1).isdigit():
        return now - parse_duration(text, param="since")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"'since' must be a duration (24h, 7d), an ISO date or epoch seconds; got {text!r}.",
                             param="since") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
