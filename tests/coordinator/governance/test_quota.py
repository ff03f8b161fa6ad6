"""Quota arithmetic (periods, reserve, settle, release) and bursts that cannot overshoot a cap."""

from __future__ import annotations

import asyncio
import calendar

import pytest

from shareai.coordinator.governance.cache import ResponseCache
from shareai.coordinator.governance.directory import OrgDirectory
from shareai.coordinator.governance.governor import OrgGovernor
from shareai.coordinator.governance.models import Limits, Org
from shareai.coordinator.governance.pricing import PriceBook
from shareai.coordinator.governance.quota import QuotaLedger, next_day, next_month, period_keys
from shareai.coordinator.interfaces import NodeModelLoad, NodeRoute, Principal
from shareai.wire.errors import QuotaExceeded
from tests.coordinator.governance.conftest import NOON, Clock, ListSink


def test_periods_are_utc_days_and_months() -> None:
    assert period_keys(NOON) == ("d:2026-11-25", "m:2026-11")
    dec31 = calendar.timegm((2026, 12, 31, 23, 59, 59))
    assert period_keys(dec31) == ("d:2026-12-31", "m:2026-12")
    assert next_day(dec31) == calendar.timegm((2027, 1, 1, 0, 0, 0))
    assert next_month(dec31) == calendar.timegm((2027, 1, 1, 0, 0, 0))
    assert next_month(NOON) == calendar.timegm((2026, 12, 1, 0, 0, 0))


def test_reservations_count_until_settled_or_released() -> None:
    ledger = QuotaLedger()
    limits = Limits(daily_tokens=1000)
    r1 = ledger.reserve(["org:a"], NOON, tokens=600, cost=0.0)
    refusal = ledger.check("org:a", limits, NOON, tokens=500, cost=0.0)
    assert refusal is not None and refusal.what == "daily_tokens" and refusal.used == 600
    assert refusal.retry_after_s == pytest.approx(12 * 3600)
    ledger.settle(r1, tokens=100, cost=0.0)
    assert ledger.check("org:a", limits, NOON, tokens=900, cost=0.0) is None
    assert ledger.check("org:a", limits, NOON, tokens=901, cost=0.0) is not None
    r2 = ledger.reserve(["org:a"], NOON, tokens=900, cost=0.0)
    ledger.release(r2)
    ledger.release(r2)  # idempotent
    ledger.settle(r2, tokens=900, cost=0.0)  # too late: already released, nothing booked
    assert ledger.check("org:a", limits, NOON, tokens=900, cost=0.0) is None
    # The next day starts from zero; the month still remembers.
    tomorrow = NOON + 86400
    assert ledger.check("org:a", Limits(daily_tokens=1000), tomorrow, tokens=1000, cost=0.0) is None
    assert ledger.check("org:a", Limits(monthly_tokens=1000), tomorrow, tokens=901, cost=0.0) is not None


def test_cost_caps_allow_an_exact_fit() -> None:
    ledger = QuotaLedger()
    for _ in range(10):
        ledger.settle(ledger.reserve(["org:a"], NOON, tokens=0, cost=0.1), tokens=0, cost=0.1)
    assert ledger.check("org:a", Limits(daily_cost=1.1), NOON, tokens=0, cost=0.1) is None
    assert ledger.check("org:a", Limits(daily_cost=1.0), NOON, tokens=0, cost=0.1) is not None


async def _principal(directory: OrgDirectory, **limits: float) -> Principal:
    await directory.create_org("admin", Org("acme"))
    key, _ = await directory.create_key("admin", org="acme")
    await directory.set_limits("admin", "org:acme", dict(limits))
    return Principal(key_id=key.id, org="acme")


async def test_concurrent_burst_settling_its_whole_reservations_stays_within_the_cap(
        directory: OrgDirectory, governance: OrgGovernor) -> None:
    """Ledger arithmetic only: reservations count until settled. That the gateway's reservations are
    upper bounds against a provider's own count is proven end to end in test_quota_dense."""
    principal = await _principal(directory, daily_tokens=1000)
    used = 0

    async def one() -> bool:
        nonlocal used
        try:
            adm = await governance.admit(principal, model="gemma", prompt_tokens=50, max_tokens=100)
        except QuotaExceeded as exc:
            assert exc.status == 429 and exc.code == "insufficient_quota" and exc.type == "insufficient_quota"
            assert int(exc.headers["retry-after"]) > 0
            return False
        await asyncio.sleep(0.001)
        adm.settle(prompt_tokens=50, completion_tokens=100, cost_usd=0.0)  # the worst case happens
        used += 150
        return True

    results = await asyncio.gather(*(one() for _ in range(30)))
    assert sum(results) == 6  # 6 x 150 = 900 <= 1000 < 7 x 150
    assert used <= 1000


async def test_cost_cap_reserves_at_the_worst_price_and_settles_real_cost(
        directory: OrgDirectory, governance: OrgGovernor, clock: Clock) -> None:
    # gemma costs at most 1 USD/M input and 2 USD/M output: 1000 + 1000 tokens reserve 0.003 USD.
    principal = await _principal(directory, daily_cost=0.01)
    admissions = [await governance.admit(principal, model="gemma", prompt_tokens=1000, max_tokens=1000)
                  for _ in range(3)]
    with pytest.raises(QuotaExceeded):
        await governance.admit(principal, model="gemma", prompt_tokens=1000, max_tokens=1000)
    for adm in admissions:
        adm.settle(prompt_tokens=1000, completion_tokens=10, cost_usd=0.00102)
    await governance.admit(principal, model="gemma", prompt_tokens=1000, max_tokens=1000)


async def test_admission_prunes_past_days_and_months_from_the_ledger(
        directory: OrgDirectory, governance: OrgGovernor, clock: Clock) -> None:
    principal = await _principal(directory, daily_tokens=10_000)
    day, month = period_keys(clock())
    adm = await governance.admit(principal, model="gemma", prompt_tokens=10, max_tokens=10)
    adm.settle(prompt_tokens=7, completion_tokens=3, cost_usd=0.0)
    assert {period for _, period in governance.ledger.used} == {day, month}
    clock.advance(86400.0)  # the next day, same month: yesterday's tally goes, the month's stays
    await governance.admit(principal, model="gemma", prompt_tokens=1, max_tokens=1)
    assert {period for _, period in governance.ledger.used} == {month}
    assert governance.ledger.used[("org:acme", month)].tokens == 10
    clock.advance(40 * 86400.0)  # a later month: nothing of the old periods is left
    await governance.admit(principal, model="gemma", prompt_tokens=1, max_tokens=1)
    assert governance.ledger.used == {}


async def test_admission_says_when_a_token_limit_applies(directory: OrgDirectory, governance: OrgGovernor) -> None:
    """The gateway forwards its completion cap upstream only when a token quota or tpm applies."""
    quota = await _principal(directory, daily_tokens=10_000)
    assert (await governance.admit(quota, model="gemma", prompt_tokens=1, max_tokens=1)).token_limited
    await directory.set_limits("admin", "org:acme", {"daily_tokens": 0, "rpm": 100})
    assert not (await governance.admit(quota, model="gemma", prompt_tokens=1, max_tokens=1)).token_limited
    await directory.set_limits("admin", f"key:{quota.key_id}", {"tpm": 1000})
    assert (await governance.admit(quota, model="gemma", prompt_tokens=1, max_tokens=1)).token_limited


async def test_key_quota_limits_one_key_not_its_siblings(directory: OrgDirectory, governance: OrgGovernor) -> None:
    principal = await _principal(directory, daily_tokens=10_000)
    await directory.set_limits("admin", f"key:{principal.key_id}", {"daily_tokens": 100})
    adm = await governance.admit(principal, model="gemma", prompt_tokens=50, max_tokens=50)
    adm.settle(prompt_tokens=50, completion_tokens=50, cost_usd=0.0)
    with pytest.raises(QuotaExceeded) as err:
        await governance.admit(principal, model="gemma", prompt_tokens=1, max_tokens=1)
    assert f"key:{principal.key_id}" in err.value.message
    sibling, _ = await directory.create_key("admin", org="acme")
    await governance.admit(Principal(key_id=sibling.id, org="acme"), model="gemma", prompt_tokens=1, max_tokens=1)


class _Nodes:
    """A `NodeDirectory` with one node of org acme advertising a high output price."""

    def routes_for(self, model: str, org: str | None) -> list[NodeRoute]:
        load = NodeModelLoad(slots=1, slots_busy=0, slots_free=1, queue_depth=0, queue_limit=4, n_ctx=2048)
        route = NodeRoute(node_id="n1", name="rig", org="acme", endpoint_url="http://127.0.0.1:9/v1",
                          data_plane_secret="ns", model=model, load=load, input_per_mtok=None, output_per_mtok=50.0)
        return [route] if org in (None, "acme") else []

    def knows_node(self, node_id: str, org: str | None) -> bool:
        return node_id == "n1" and org in (None, "acme")

    def model_names(self, org: str | None) -> set[str]:
        return {"gemma"}


async def test_cost_reservation_uses_the_price_nodes_advertise(directory: OrgDirectory, clock: Clock) -> None:
    gov = OrgGovernor(directory, prices=PriceBook(by_model={"gemma": (1.0, 2.0)}), cache=ResponseCache(1024),
                     sink=ListSink(), clock=clock, nodes=_Nodes())
    principal = await _principal(directory, daily_cost=0.001)
    # 20 output tokens at the node's 50 USD/M = 0.001 USD: fits exactly once.
    await gov.admit(principal, model="gemma", prompt_tokens=0, max_tokens=20)
    with pytest.raises(QuotaExceeded):
        await gov.admit(principal, model="gemma", prompt_tokens=0, max_tokens=1)
