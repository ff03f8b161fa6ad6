"""The SQL usage report (grouping, exact nearest-rank percentiles, filters), `--since` parsing, prices."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from bench.usage_bench import baseline_summarise
from shareai.coordinator.governance.pricing import PriceBook, energy_cost_usd
from shareai.coordinator.governance.reports import GROUPS, ReportQuery, parse_since
from shareai.coordinator.governance.sqlite_store import report_over
from shareai.coordinator.interfaces import UsageRecord
from shareai.wire.errors import InvalidRequest
from tests.coordinator.governance.conftest import NOON, coordinator_config, usage


def _report(records: list[UsageRecord], by: str, since: float = NOON - 86400, **kw: Any) -> dict[str, Any]:
    return report_over(records, ReportQuery(by=by, since=since, **kw))


def test_percentiles_are_nearest_rank() -> None:
    # 100 latencies 1..100 (inserted shuffled): rank ceil(0.5 * 100) = 50 and ceil(0.95 * 100) = 95.
    values = list(range(1, 101))
    random.Random(7).shuffle(values)
    g = _report([usage(NOON, latency_ms=float(v)) for v in values], "model")["data"][0]
    assert (g["latency_p50_ms"], g["latency_p95_ms"]) == (50.0, 95.0)
    one = _report([usage(NOON, latency_ms=7.0)], "model")["data"][0]
    assert (one["latency_p50_ms"], one["latency_p95_ms"]) == (7.0, 7.0)
    # 3 values: ranks ceil(1.5) = 2 and ceil(2.85) = 3.
    three = _report([usage(NOON, latency_ms=v) for v in (30.0, 10.0, 20.0)], "model")["data"][0]
    assert (three["latency_p50_ms"], three["latency_p95_ms"]) == (20.0, 30.0)
    assert _report([], "model") == {"data": [], "total": {"requests": 0, "total_tokens": 0, "cost_usd": 0.0}}


def test_summary_by_route_compares_the_same_model() -> None:
    records = [usage(NOON, route="provider-a", cost=0.002, latency_ms=100.0),
               usage(NOON, route="provider-a", cost=0.004, latency_ms=300.0, status=502, prompt=0, completion=0),
               usage(NOON, route="node:n1", cost=0.0, latency_ms=50.0, cache_hit=True)]
    by_route = {g["group"]: g for g in _report(records, "route")["data"]}
    a = by_route["provider-a"]
    assert (a["requests"], a["errors"], a["total_tokens"], a["latency_p50_ms"], a["latency_p95_ms"]) == \
        (2, 1, 15, 100.0, 300.0)
    assert a["cost_usd"] == pytest.approx(0.006) and a["cost_per_request_usd"] == pytest.approx(0.003)
    assert by_route["node:n1"]["cache_hits"] == 1
    assert [g["group"] for g in _report(records, "day")["data"]] == ["2026-11-25"]
    assert sum(g["requests"] for g in _report(records, "key")["data"]) == 3
    with pytest.raises(InvalidRequest):
        _report(records, "colour")


def test_window_org_and_key_filters() -> None:
    records = [usage(NOON - 100, key_id="k1"), usage(NOON, key_id="k1"), usage(NOON + 5, key_id="k2"),
               usage(NOON + 10, org="beta", key_id="k3"), usage(NOON + 20, org=None, key_id="admin")]
    assert _report(records, "org", since=NOON)["total"]["requests"] == 4
    assert _report(records, "org", since=NOON, until=NOON + 10)["total"]["requests"] == 2
    assert [g["group"] for g in _report(records, "org", since=0.0)["data"]] == ["(bootstrap)", "acme", "beta"]
    assert _report(records, "key", since=0.0, org="acme", key="k1")["total"]["requests"] == 2
    assert _report(records, "key", since=0.0, org="beta", key="k1")["data"] == []


def test_sql_report_equals_the_old_python_aggregation() -> None:
    # The bench keeps the old row-by-row algorithm as its baseline; on random data with groups of
    # every size (1, 2, 3, 19, 20, 21, ... rows), the SQL report gives the same figures.
    rng = random.Random(11)
    records = []
    for size, route in [(1, "a"), (2, "b"), (3, "c"), (19, "d"), (20, "e"), (21, "f"), (399, "g"), (1000, "h")]:
        for _ in range(size):
            records.append(usage(NOON - rng.uniform(0, 5 * 86400), key_id=rng.choice(["k1", "k2"]), route=route,
                                 model=rng.choice(["m1", "m2"]), org=rng.choice(["acme", "beta", None]),
                                 prompt=rng.randint(0, 500), completion=rng.randint(0, 500),
                                 cost=rng.uniform(0, 0.01), latency_ms=float(rng.randint(1, 300)),
                                 status=rng.choice([200, 200, 429, 502]), cache_hit=rng.random() < 0.2))
    for by in GROUPS:
        new = _report(records, by, since=0.0)["data"]
        old = baseline_summarise(records, by)
        assert [g["group"] for g in new] == [g["group"] for g in old]
        for n, o in zip(new, old, strict=True):
            assert {k: v for k, v in n.items() if "cost" not in k} == {k: v for k, v in o.items() if "cost" not in k}
            assert n["cost_usd"] == pytest.approx(o["cost_usd"], abs=1e-9)
            assert n["cost_per_request_usd"] == pytest.approx(o["cost_per_request_usd"], abs=1e-9)


def test_parse_since() -> None:
    assert parse_since(None, NOON) is None
    assert parse_since("24h", NOON) == NOON - 86400
    assert parse_since("7d", NOON) == NOON - 7 * 86400
    assert parse_since("2026-11-25", NOON) == NOON - 12 * 3600
    assert parse_since("2026-11-25T13:00:00+01:00", NOON) == NOON
    assert parse_since(str(NOON), NOON) == NOON
    with pytest.raises(InvalidRequest):
        parse_since("yesterday", NOON)
    for bad in ("nan", "inf", "-inf"):
        with pytest.raises(InvalidRequest):
            parse_since(bad, NOON)


def test_energy_price_and_worst_case_model_price() -> None:
    # 250 W for 7.2 s = 0.5 Wh = 0.0005 kWh; at 0.30 USD/kWh: 0.00015 USD.
    assert energy_cost_usd(250, 7.2, 0.30) == pytest.approx(0.00015)
    assert energy_cost_usd(None, 7.2, 0.30) == 0.0
    assert energy_cost_usd(250, 7.2, 0.0) == 0.0
    cfg = coordinator_config(Path("/nonexistent"))
    cfg.node_pricing.output_per_mtok = 5.0
    book = PriceBook.from_config(cfg)
    assert book.by_model["gemma"] == (1.0, 5.0)  # a node may serve it at the higher [nodes] price
    assert book.estimate("gemma", prompt_tokens=1_000_000, max_tokens=1_000_000) == pytest.approx(6.0)
    assert book.estimate("node-only", prompt_tokens=0, max_tokens=1_000_000) == pytest.approx(5.0)
