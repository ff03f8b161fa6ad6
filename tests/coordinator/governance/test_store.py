"""One test suite for every `GovernanceStore`: in memory, and SQLite on a real file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shareai.coordinator.governance.models import ApiKey, Limits, Org
from shareai.coordinator.governance.reports import ReportQuery
from shareai.coordinator.governance.sqlite_store import GOVERNANCE_SCHEMA, SqliteGovernanceStore
from shareai.coordinator.governance.store import GovernanceStore, MemoryGovernanceStore
from shareai.coordinator.store.db import Database
from tests.coordinator.governance.conftest import NOON, usage


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[GovernanceStore]:
    if request.param == "memory":
        yield MemoryGovernanceStore()
        return
    db = await Database.open(tmp_path / "gov.db", [GOVERNANCE_SCHEMA])
    try:
        yield SqliteGovernanceStore(db)
    finally:
        await db.close()


def _key(key_id: str, **kw: object) -> ApiKey:
    base: dict[str, object] = dict(id=key_id, org="acme", name="ci", secret_hash="h-" + key_id, prefix="sk-abcde",
                                   created_at=NOON)
    base.update(kw)
    return ApiKey(**base)  # type: ignore[arg-type]


async def test_orgs_upsert_by_name(store: GovernanceStore) -> None:
    await store.save_org(Org("beta", created_at=NOON))
    await store.save_org(Org("acme", policy="cheapest", created_at=NOON))
    await store.save_org(Org("acme", policy="fastest", private=True, cache_mode="all", cache_ttl_s=9.5,
                             created_at=NOON))
    assert await store.orgs() == [
        Org("acme", policy="fastest", private=True, cache_mode="all", cache_ttl_s=9.5, created_at=NOON),
        Org("beta", created_at=NOON),
    ]


async def test_keys_round_trip_every_field(store: GovernanceStore) -> None:
    await store.save_org(Org("acme"))
    full = _key("key_b", allowed_models=("gemma", "llama"), expires_at=NOON + 60, revoked_at=NOON + 1,
                prev_hash="old", prev_expires_at=NOON + 3600)
    await store.save_key(_key("key_a"))
    await store.save_key(full)
    assert await store.keys() == [_key("key_a"), full]
    await store.save_key(_key("key_a", revoked_at=NOON + 5))
    assert (await store.keys())[0].revoked_at == NOON + 5


async def test_limits_set_and_cleared(store: GovernanceStore) -> None:
    await store.save_limits("org:acme", Limits(rpm=10, daily_cost=1.5))
    await store.save_limits("key:key_a", Limits(policy="fastest"))
    assert await store.limits() == {"org:acme": Limits(rpm=10, daily_cost=1.5), "key:key_a": Limits(policy="fastest")}
    await store.save_limits("org:acme", Limits())
    assert await store.limits() == {"key:key_a": Limits(policy="fastest")}


async def test_usage_filters_and_totals(store: GovernanceStore) -> None:
    records = [
        usage(NOON - 10, key_id="k1", prompt=10, completion=5, cost=0.5),
        usage(NOON, key_id="k1", prompt=1, completion=2, cost=0.25),
        usage(NOON + 10, key_id="k2", prompt=100, completion=0, cost=0.0),
        usage(NOON + 20, org="beta", key_id="k3"),
        usage(NOON + 30, org=None, key_id="admin"),
        usage(NOON + 40, key_id="k2", prompt=1000, cache_hit=True),
    ]
    records[1].extra["energy_wh"] = 1.25
    await store.add_usage(records)
    assert await store.usage() == records
    assert await store.usage(since=NOON, until=NOON + 20, org="acme") == records[1:3]
    assert len(await store.usage(org="acme")) == 4
    totals = {(t.org, t.key_id): (t.tokens, t.cost) for t in await store.usage_totals(since=NOON)}
    assert totals[("acme", "k1")] == (3, pytest.approx(0.25))
    assert totals[("acme", "k2")] == (100, 0.0)
    assert set(totals) == {("acme", "k1"), ("acme", "k2"), ("beta", "k3"), (None, "admin")}


async def test_sqlite_file_is_private_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "gov.db"
    db = await Database.open(path, [GOVERNANCE_SCHEMA])
    await SqliteGovernanceStore(db).save_org(Org("acme", created_at=NOON))
    await SqliteGovernanceStore(db).add_usage([usage(NOON)])
    await db.close()
    assert path.stat().st_mode & 0o077 == 0
    db = await Database.open(path, [GOVERNANCE_SCHEMA])
    try:
        store = SqliteGovernanceStore(db)
        assert [o.name for o in await store.orgs()] == ["acme"]
        assert await store.usage() == [usage(NOON)]
    finally:
        await db.close()


async def test_usage_report_is_the_same_sql_in_both_stores(store: GovernanceStore) -> None:
    # 40 rows over 40 hours; a window of the last 5 hours holds under a quarter of them (the report
    # then uses the ts index), the whole table over a quarter (it walks the table): same figures.
    records = [usage(NOON - 3600 * i, key_id=f"k{i % 3}", route=("provider-a", "node:n1")[i % 2],
                     latency_ms=float(10 * (40 - i)), cost=0.001 * i, status=(200, 502)[i % 5 == 0])
               for i in range(40)]
    await store.add_usage(records)
    everything = await store.usage_report(ReportQuery(by="route", since=NOON - 86400 * 3))
    assert everything["total"] == {"requests": 40, "total_tokens": 600,
                                   "cost_usd": pytest.approx(0.001 * sum(range(40)))}
    node = everything["data"][0]
    assert node["group"] == "node:n1" and node["requests"] == 20
    # node:n1 latencies are 10, 30, ..., 390 ms: ranks 10 and 19 of 20.
    assert (node["latency_p50_ms"], node["latency_p95_ms"]) == (190.0, 370.0)
    recent = await store.usage_report(ReportQuery(by="key", since=NOON - 4 * 3600 - 1))
    assert [(g["group"], g["requests"]) for g in recent["data"]] == [("k0", 2), ("k1", 2), ("k2", 1)]
    assert recent["data"][0]["errors"] == 1  # row 0 is a 502
    one_key = await store.usage_report(ReportQuery(by="day", since=0.0, until=NOON + 1, org="acme", key="k1"))
    assert one_key["total"]["requests"] == 13
