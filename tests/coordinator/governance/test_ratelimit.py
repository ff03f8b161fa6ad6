"""Sliding-window arithmetic with an injected `now`, and exactness under concurrency."""

from __future__ import annotations

import asyncio

import pytest

from shareai.coordinator.governance.directory import OrgDirectory
from shareai.coordinator.governance.governor import OrgGovernor
from shareai.coordinator.governance.models import Org
from shareai.coordinator.governance.ratelimit import SlidingWindow, format_reset, rate_headers, tightest
from shareai.coordinator.interfaces import Principal
from shareai.wire.errors import RateLimited
from tests.coordinator.governance.conftest import Clock


def test_window_admits_exactly_limit_then_frees_as_entries_age() -> None:
    w = SlidingWindow(limit=3, window_s=60)
    for t in (0.0, 10.0, 20.0):
        assert w.room(t) >= 1
        w.add(t, 1)
    assert w.room(25.0) == 0
    assert w.wait_for(25.0, 1) == pytest.approx(35.0)  # the entry of t=0 leaves at t=60
    assert w.room(59.999) == 0
    assert w.room(60.0) == 1
    assert w.reset_in(60.0) == pytest.approx(20.0)  # the last entry (t=20) leaves at t=80
    assert w.room(80.0) == 3


def test_token_window_adjusts_an_estimate_and_reports_requests_that_never_fit() -> None:
    w = SlidingWindow(limit=1000)
    entry = w.add(0.0, 800)
    assert w.wait_for(1.0, 300) == pytest.approx(59.0)
    w.adjust(entry, 150)  # settled: the request used 150 tokens, not 800
    assert w.used(1.0) == 150
    assert w.wait_for(1.0, 300) == 0.0
    assert w.wait_for(1.0, 1001) == 60.0  # larger than the limit: never fits
    w.adjust(entry, 0)
    assert w.used(61.0) == 0
    w.adjust(entry, 500)  # an expired entry no longer counts, whatever it is adjusted to
    assert w.used(61.0) == 0


def test_format_reset_follows_openai_style() -> None:
    assert format_reset(0) == "0s"
    assert format_reset(0.02) == "20ms"
    assert format_reset(1.5) == "1.5s"
    assert format_reset(59.0) == "59s"
    assert format_reset(360.0) == "6m0s"


def test_headers_show_the_tightest_window() -> None:
    loose, tight = SlidingWindow(100), SlidingWindow(5)
    tight.add(0.0, 2)
    h = rate_headers(tightest([loose, tight], 1.0), None)
    assert h == {"x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "3",
                 "x-ratelimit-reset-requests": "59s"}


async def _acme_key(directory: OrgDirectory, **limits: int) -> Principal:
    await directory.create_org("admin", Org("acme"))
    key, _ = await directory.create_key("admin", org="acme")
    await directory.set_limits("admin", "org:acme", dict(limits))
    return Principal(key_id=key.id, org="acme")


@pytest.mark.parametrize("limit", [1, 7, 20])
async def test_exactly_limit_of_3x_concurrent_requests_succeed(
        directory: OrgDirectory, governance: OrgGovernor, clock: Clock, limit: int) -> None:
    principal = await _acme_key(directory, rpm=limit)

    async def one() -> bool:
        try:
            adm = await governance.admit(principal, model="gemma", prompt_tokens=5, max_tokens=5)
        except RateLimited as exc:
            assert exc.status == 429 and int(exc.headers["retry-after"]) >= 1
            assert exc.headers["x-ratelimit-remaining-requests"] == "0"
            return False
        await asyncio.sleep(0)  # in flight while the others are admitted
        adm.settle(prompt_tokens=5, completion_tokens=5, cost_usd=0.0)
        return True

    results = await asyncio.gather(*(one() for _ in range(3 * limit)))
    assert sum(results) == limit
    clock.advance(60.0)  # a minute later the window is free again
    adm = await governance.admit(principal, model="gemma", prompt_tokens=5, max_tokens=5)
    assert adm.headers["x-ratelimit-remaining-requests"] == str(limit - 1)


async def test_token_limit_counts_estimates_until_settled(
        directory: OrgDirectory, governance: OrgGovernor, clock: Clock) -> None:
    principal = await _acme_key(directory, tpm=1000)
    a = await governance.admit(principal, model="gemma", prompt_tokens=100, max_tokens=400)
    b = await governance.admit(principal, model="gemma", prompt_tokens=100, max_tokens=400)
    assert b.headers["x-ratelimit-remaining-tokens"] == "0"
    with pytest.raises(RateLimited) as err:
        await governance.admit(principal, model="gemma", prompt_tokens=1, max_tokens=1)
    assert err.value.headers["x-ratelimit-limit-tokens"] == "1000"
    a.settle(prompt_tokens=100, completion_tokens=20, cost_usd=0.0)  # 380 tokens given back
    b.release()  # failed upstream: all 500 back
    c = await governance.admit(principal, model="gemma", prompt_tokens=100, max_tokens=400)
    assert c.headers["x-ratelimit-remaining-tokens"] == str(1000 - 120 - 500)


async def test_key_limit_applies_on_top_of_the_org_and_refusal_counts_nothing(
        directory: OrgDirectory, governance: OrgGovernor) -> None:
    principal = await _acme_key(directory, rpm=10)
    await directory.set_limits("admin", f"key:{principal.key_id}", {"rpm": 2})
    for _ in range(2):
        await governance.admit(principal, model="gemma", prompt_tokens=1, max_tokens=1)
    with pytest.raises(RateLimited):
        await governance.admit(principal, model="gemma", prompt_tokens=1, max_tokens=1)
    other_key, _ = await directory.create_key("admin", org="acme")
    other = Principal(key_id=other_key.id, org="acme")
    adm = await governance.admit(other, model="gemma", prompt_tokens=1, max_tokens=1)
    # The refused request was not counted in the org's window: 2 admitted + this one.
    assert adm.headers["x-ratelimit-remaining-requests"] == "7"


async def test_unlimited_orgs_and_bootstrap_keys_get_no_headers(governance: OrgGovernor) -> None:
    adm = await governance.admit(Principal(key_id="admin", org=None), model="gemma", prompt_tokens=1, max_tokens=1)
    assert adm.headers == {}
    adm.settle(prompt_tokens=1, completion_tokens=1, cost_usd=0.0)
