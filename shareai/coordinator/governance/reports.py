"""Usage reports: requests, tokens, cost and latency percentiles per group, aggregated in SQL.

    since = parse_since(text, now)             # None when not given: then default_since(now)
    query = ReportQuery(by="route", since=default_since(now) if since is None else since, org="acme")
    report = await store.usage_report(query)   # {"data": [{"group": "provider-a", "requests": 12, ...}], "total": ...}

Comparing the same model across routes is the point: group by `route` (or `model`) and read cost
per request and p50/p95 latency side by side.

The aggregation is SQL (`usage_report(conn, query)`: sums per group in one pass, percentiles from
one window over (group, latency) pairs, both in one transaction), run on the database's worker
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


def _where(query: ReportQuery, *, ts_index: bool = True) -> tuple[str, list[Any]]:
    # `+ts` keeps SQLite off the ts index: when the window holds most rows, walking the table is
    # several times faster than one index lookup per row (300k rows: 0.3 s against 1.2 s).
    ts = "ts" if ts_index else "+ts"
    where = [f"{ts} >= ?"]
    params: list[Any] = [query.since]
    if query.until is not None:
        where.append(f"{ts} < ?")
        params.append(query.until)
    if query.org is not None:
        where.append("org = ?")
        params.append(query.org)
    if query.key is not None:
        where.append("key_id = ?")
        params.append(query.key)
    return " AND ".join(where), params


def _narrow(conn: sqlite3.Connection, query: ReportQuery) -> bool:
    """Whether the time window holds under a quarter of the table (then the ts index pays). Both
    counts read an index only; without statistics SQLite would take the index either way."""
    sql, params = "SELECT COUNT(*) FROM usage_records WHERE ts >= ?", [query.since]
    if query.until is not None:
        sql += " AND ts < ?"
        params.append(query.until)
    window = conn.execute(sql, params).fetchone()[0]
    total = conn.execute("SELECT COUNT(*) FROM usage_records").fetchone()[0]
    return bool(window * 4 < total)


def _statements(query: ReportQuery, *, ts_index: bool) -> tuple[str, str, list[Any]]:
    """The sums per group (one pass), and the two percentile rows per group: one window sorts only
    (group, latency) pairs; `n` is the group's size over the whole partition."""
    where, params = _where(query, ts_index=ts_index)
    g = _GROUP_SQL[query.by]
    sums = f"""
        SELECT {g} AS g, COUNT(*), SUM(status >= 400), SUM(cache_hit), SUM(prompt_tokens), SUM(completion_tokens),
               SUM(cost_usd)
        FROM usage_records WHERE {where} GROUP BY g ORDER BY g
    """
    percentiles = f"""
        SELECT g, MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN latency_ms END),
                  MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN latency_ms END)
        FROM (
            SELECT {g} AS g, latency_ms, ROW_NUMBER() OVER w AS rn,
                   COUNT(*) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS n
            FROM usage_records WHERE {where}
            WINDOW w AS (PARTITION BY {g} ORDER BY latency_ms)
        ) WHERE rn = (50 * n + 99) / 100 OR rn = (95 * n + 99) / 100
        GROUP BY g
    """
    return sums, percentiles, params


def usage_report(conn: sqlite3.Connection, query: ReportQuery) -> dict[str, Any]:
    """The report over `usage_records` on `conn` (call it on the database thread, in one transaction:
    `db.run`, so both statements see the same rows)."""
    sums, percentiles, params = _statements(query, ts_index=_narrow(conn, query))
    pct = {g: (p50, p95) for g, p50, p95 in conn.execute(percentiles, params)}
    groups: list[dict[str, Any]] = []
    for g, requests, errors, cache_hits, prompt, completion, cost in conn.execute(sums, params):
        cost = float(cost or 0.0)
        p50, p95 = pct[g]
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
