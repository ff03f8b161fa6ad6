"""Governance through the real gateway with the official `openai` SDK: 401/403/429 shapes and
headers, exact rate limits under concurrency, quota bursts, the cache (streaming too), and
usage reports that add up to the requests sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from shareai.coordinator.app import Coordinator
from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import CoordinatorConfig, ProviderConfig, ProviderModel
from shareai.coordinator.governance import GovernanceSubsystem
from shareai.coordinator.governance.models import Org
from shareai.testing.fake_provider import FakeProvider
from tests.coordinator.gateway.helpers import eventually
from tests.coordinator.governance.conftest import ADMIN_KEY
from tests.coordinator.governance.test_admin_api import call

MODEL = "gemma"
MESSAGES: list[Any] = [{"role": "user", "content": "say hello"}]


@dataclass
class Stack:
    coord: Coordinator
    gov: GovernanceSubsystem
    provider: FakeProvider

    async def key(self, org: str = "acme", **kw: Any) -> str:
        if org not in self.gov.directory.orgs:
            await self.gov.directory.create_org("admin", Org(org))
        _, secret = await self.gov.directory.create_key("admin", org=org, **kw)
        return secret

    def client(self, key: str) -> AsyncOpenAI:
        return AsyncOpenAI(base_url=self.coord.url + "/v1", api_key=key, max_retries=0, timeout=15)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    provider = await FakeProvider(model=MODEL, reply="hello there friend", name="a").start()
    cfg = CoordinatorConfig(
        http_host="127.0.0.1", http_port=0, grpc_host="127.0.0.1", grpc_port=0, data_dir=tmp_path / "data",
        providers=[ProviderConfig(name="provider-a", base_url=provider.base_url, api_keys=["pk"],
                                  models=[ProviderModel(MODEL, MODEL, 1.0, 2.0)])],
    ).validate()
    coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
    gov = coord.governance
    assert gov is not None
    await coord.start()
    try:
        yield Stack(coord, gov, provider)
    finally:
        await coord.stop()
        await provider.stop()


async def test_401_403_shapes(stack: Stack) -> None:
    secret = await stack.key(models=(MODEL,))
    async with stack.client("sk-unknown") as c:
        with pytest.raises(openai.AuthenticationError) as err:
            await c.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert err.value.status_code == 401 and err.value.code == "invalid_api_key"
    async with stack.client(secret) as c:
        with pytest.raises(openai.PermissionDeniedError) as perm:
            await c.chat.completions.create(model="other-model", messages=MESSAGES)
        assert perm.value.status_code == 403
        ok = await c.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert ok.choices[0].message.content == "hello there friend"
    key_id = stack.gov.authenticator.authenticate_now(secret, stack.gov.clock()).key_id
    await stack.gov.directory.revoke_key("admin", key_id)
    async with stack.client(secret) as c:
        with pytest.raises(openai.AuthenticationError) as revoked:
            await c.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert revoked.value.code == "revoked_api_key"


async def test_rate_limit_is_exact_under_concurrency_with_headers(stack: Stack) -> None:
    limit = 5
    secret = await stack.key()
    await stack.gov.directory.set_limits("admin", "org:acme", {"rpm": limit, "tpm": 100_000})
    async with stack.client(secret) as c:
        async def one() -> Any:
            try:
                return await c.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES,
                                                                          max_tokens=16)
            except openai.RateLimitError as exc:
                return exc

        results = await asyncio.gather(*(one() for _ in range(3 * limit)))
    ok = [r for r in results if not isinstance(r, openai.RateLimitError)]
    refused = [r for r in results if isinstance(r, openai.RateLimitError)]
    assert len(ok) == limit and len(refused) == 2 * limit
    assert stack.provider.calls == limit
    for r in ok:
        assert r.headers["x-ratelimit-limit-requests"] == str(limit)
        assert r.headers["x-ratelimit-limit-tokens"] == "100000"
        assert {"x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", "x-ratelimit-remaining-tokens",
                "x-ratelimit-reset-tokens"} <= set(r.headers)
    assert sorted(int(r.headers["x-ratelimit-remaining-requests"]) for r in ok) == list(range(limit))
    for exc in refused:
        assert exc.status_code == 429 and exc.code == "rate_limit_exceeded"
        assert int(exc.response.headers["retry-after"]) >= 1
        assert exc.response.headers["x-ratelimit-remaining-requests"] == "0"


async def test_quota_burst_does_not_overshoot(stack: Stack) -> None:
    secret = await stack.key()
    # Each request reserves its prompt's bound (64 + 16 + len("user") + len("say hello") = 93) plus
    # 20 max_tokens = 113, and really uses 2 + 20 = 22 (the fake counts words). Without reservations
    # all 20 would pass (440 tokens); with them at least 2 fit (226 <= 300), at most 8 (8 x 22 + 113
    # <= 300 < 9 x 22 + 113), and the total stays within the cap whatever the interleaving.
    stack.provider.reply = " ".join(["word"] * 20)
    await stack.gov.directory.set_limits("admin", "org:acme", {"daily_tokens": 300})
    async with stack.client(secret) as c:
        async def one() -> Any:
            try:
                return await c.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=20)
            except openai.RateLimitError as exc:
                return exc

        results = await asyncio.gather(*(one() for _ in range(20)))
    ok = [r for r in results if not isinstance(r, openai.RateLimitError)]
    refused = [r for r in results if isinstance(r, openai.RateLimitError)]
    assert ok and refused
    assert all(e.code == "insufficient_quota" and e.status_code == 429 for e in refused)
    used = sum(r.usage.total_tokens for r in ok if r.usage is not None)
    assert 2 <= len(ok) <= 8 and used == 22 * len(ok) <= 300
    assert stack.gov.governor.ledger.reserved == {}


async def test_cache_hit_and_miss_with_streaming_and_reports(stack: Stack) -> None:
    await stack.gov.directory.create_org("admin", Org("acme", cache_mode="deterministic", cache_ttl_s=60))
    secret = await stack.key()
    async with stack.client(secret) as c:
        first = await c.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES, temperature=0)
        assert first.headers["x-shareai-cache"] == "miss"
        second = await c.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES, temperature=0)
        assert second.headers["x-shareai-cache"] == "hit" and second.headers["x-shareai-cost-usd"] == "0"
        assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
        stream = await c.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=0, stream=True)
        text = "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
        assert text == "hello there friend"
        warm = await c.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES, temperature=0.8)
        assert warm.headers.get("x-shareai-cache") == "miss"  # not deterministic: never cached
    assert stack.provider.calls == 2  # the first request and the temperature-0.8 one

    status, report = await call(stack.coord, "GET", "/admin/v1/usage", by="route", org="acme")
    assert status == 200 and report["total"]["requests"] == 4
    routes = {g["group"]: g for g in report["data"]}
    assert routes["provider-a"]["requests"] == 4 and routes["provider-a"]["cache_hits"] == 2
    records = await stack.gov.store.usage(org="acme")
    assert [r.cache_hit for r in records] == [False, True, True, False]
    assert all(r.cost_usd == 0 for r in records if r.cache_hit)
    expected = sum(float(h.headers["x-shareai-cost-usd"]) for h in (first, warm))
    assert report["total"]["cost_usd"] == pytest.approx(expected, rel=1e-3)


async def test_answers_refused_before_admission_carry_ratelimit_headers(stack: Stack) -> None:
    secret = await stack.key(models=(MODEL,))
    await stack.gov.directory.set_limits("admin", "org:acme", {"rpm": 10, "tpm": 1000})
    async with stack.client(secret) as c:
        await c.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=16)  # uses 1 request
        with pytest.raises(openai.PermissionDeniedError) as denied:  # the key may not use it
            await c.chat.completions.create(model="other-model", messages=MESSAGES)
        listed = await c.models.with_raw_response.list()
    other = await stack.key(org="acme")  # a key of the same org that may use every model
    async with stack.client(other) as c:
        with pytest.raises(openai.NotFoundError) as unknown:
            await c.chat.completions.create(model="no-such-model", messages=MESSAGES)
        with pytest.raises(openai.NotFoundError) as unknown_get:
            await c.models.retrieve("no-such-model")
        with pytest.raises(openai.BadRequestError) as invalid:
            await c.chat.completions.create(model=MODEL, messages=[])
    for headers in (denied.value.response.headers, unknown.value.response.headers,
                    unknown_get.value.response.headers, invalid.value.response.headers, listed.headers):
        assert headers["x-ratelimit-limit-requests"] == "10" and headers["x-ratelimit-limit-tokens"] == "1000"
        assert headers["x-ratelimit-remaining-requests"] == "9"  # refusals and listings consume nothing
        assert "x-ratelimit-reset-requests" in headers and "x-ratelimit-reset-tokens" in headers
    assert stack.provider.calls == 1


async def test_unary_disconnect_releases_the_quota_reservation_and_records_499(stack: Stack) -> None:
    secret = await stack.key()
    await stack.gov.directory.set_limits("admin", "org:acme", {"daily_tokens": 200})
    stack.provider.hang = True
    body = {"model": MODEL, "messages": MESSAGES, "max_tokens": 100}  # reserves 93 + 100 of the 200
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s:
        task = asyncio.create_task(s.post(stack.coord.url + "/v1/chat/completions", json=body,
                                          headers={"Authorization": f"Bearer {secret}"}))
        await eventually(lambda: stack.provider.calls == 1)
        assert stack.gov.governor.ledger.reserved  # held while the upstream works
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    await eventually(lambda: stack.provider.disconnects == 1)
    await eventually(lambda: not stack.gov.governor.ledger.reserved)
    stack.provider.hang = False
    async with stack.client(secret) as c:  # fits only because the first reservation was given back
        ok = await c.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=100)
    assert ok.choices[0].message.content == "hello there friend"
    await stack.gov.writer.flush()
    records = await stack.gov.store.usage(org="acme")
    assert [r.status for r in records] == [499, 200]
    assert (records[0].prompt_tokens, records[0].completion_tokens, records[0].cost_usd) == (0, 0, 0.0)
