"""Report grouping, percentiles and `--since` parsing (pure functions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shareai.coordinator.governance.pricing import PriceBook, energy_cost_usd
from shareai.coordinator.governance.reports import parse_since, percentile, summarise
from shareai.wire.errors import InvalidRequest
from tests.coordinator.governance.conftest import NOON, coordinator_config, usage


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None


def test_summary_by_route_compares_the_same_model() -> None:
    records = [usage(NOON, route="provider-a", cost=0.002, latency_ms=100.0),
               usage(NOON, route="provider-a", cost=0.004, latency_ms=300.0, status=502, prompt=0, completion=0),
               usage(NOON, route="node:n1", cost=0.0, latency_ms=50.0, cache_hit=True)]
    by_route = {g["group"]: g for g in summarise(records, "route")}
    a = by_route["provider-a"]
    assert (a["requests"], a["errors"], a["total_tokens"], a["latency_p50_ms"], a["latency_p95_ms"]) == \
        (2, 1, 15, 100.0, 300.0)
    assert a["cost_usd"] == pytest.approx(0.006) and a["cost_per_request_usd"] == pytest.approx(0.003)
    assert by_route["node:n1"]["cache_hits"] == 1
    assert [g["group"] for g in summarise(records, "day")] == ["2026-11-25"]
    assert sum(g["requests"] for g in summarise(records, "key")) == 3
    with pytest.raises(InvalidRequest):
        summarise(records, "colour")


def test_parse_since() -> None:
    assert parse_since(None, NOON) is None
    assert parse_since("24h", NOON) == NOON - 86400
    assert parse_since("7d", NOON) == NOON - 7 * 86400
    assert parse_since("2026-11-25", NOON) == NOON - 12 * 3600
    assert parse_since("2026-11-25T13:00:00+01:00", NOON) == NOON
    assert parse_since(str(NOON), NOON) == NOON
    with pytest.raises(InvalidRequest):
        parse_since("yesterday", NOON)


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
