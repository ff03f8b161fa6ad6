"""Usage reports: requests, tokens, cost and latency percentiles per group, as pure functions.

    rows = await store.usage(since=parse_since("7d", now), org="acme")
    report = summarise(rows, by="route")     # [{"group": "provider-a", "requests": 12, ...}, ...]

Comparing the same model across routes is the point: group by `route` (or `model`) and read cost
per request and p50/p95 latency side by side. Percentiles are nearest-rank over the group.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from shareai.coordinator.governance.models import parse_duration
from shareai.coordinator.interfaces import UsageRecord
from shareai.wire.errors import InvalidRequest

GROUPS = ("model", "route", "org", "key", "day")


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None for an empty one)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def group_of(record: UsageRecord, by: str) -> str:
    if by == "model":
        return record.model
    if by == "route":
        return record.route
    if by == "org":
        return record.org or "(bootstrap)"
    if by == "key":
        return record.key_id
    return time.strftime("%Y-%m-%d", time.gmtime(record.ts))


def summarise(records: Iterable[UsageRecord], by: str) -> list[dict[str, Any]]:
    if by not in GROUPS:
        raise InvalidRequest(f"'by' must be one of {', '.join(GROUPS)}; got {by!r}.", param="by")
    groups: dict[str, list[UsageRecord]] = {}
    for r in records:
        groups.setdefault(group_of(r, by), []).append(r)
    out: list[dict[str, Any]] = []
    for name in sorted(groups):
        rows = groups[name]
        latencies = sorted(r.latency_ms for r in rows)
        prompt = sum(r.prompt_tokens for r in rows)
        completion = sum(r.completion_tokens for r in rows)
        cost = sum(r.cost_usd for r in rows)
        out.append({
            "group": name,
            "requests": len(rows),
            "errors": sum(1 for r in rows if r.status >= 400),
            "cache_hits": sum(1 for r in rows if r.cache_hit),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "cost_usd": round(cost, 10),
            "cost_per_request_usd": round(cost / len(rows), 10),
            "latency_p50_ms": percentile(latencies, 50),
            "latency_p95_ms": percentile(latencies, 95),
        })
    return out


def parse_since(text: str | None, now: float) -> float | None:
    """`--since`: a duration back from now (`24h`, `7d`), an ISO date/time (UTC if no zone), or epoch seconds."""
    if text is None or text == "":
        return None
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
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
