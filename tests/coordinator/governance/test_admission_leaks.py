"""Every admitted request settles or releases its reservation, whatever is raised: a lone surrogate
in a cached org's prompt, or a failing part of the pipeline, never leaves tokens reserved for good,
and an unexpected failure is still a usage record (status 500) and an OpenAI-shaped 500."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from shareai.coordinator.governance.cache import ResponseCache, cache_key
from shareai.coordinator.governance.models import Org
from shareai.coordinator.interfaces import CachedResponse
from tests.coordinator.governance.test_gateway_e2e import MESSAGES, MODEL, Stack, stack

__all__ = ["stack"]  # the fixture, imported for pytest

TIMEOUT = aiohttp.ClientTimeout(total=30)


async def _post(stack: Stack, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    # json.dumps escapes the lone surrogate as \ud800, which is valid JSON (the SDK cannot send it).
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.post(
            stack.coord.url + "/v1/chat/completions", data=json.dumps(body).encode(), headers=headers) as r:
        return r.status, await r.json()


def test_cache_key_of_a_lone_surrogate_is_distinct_and_stable() -> None:
    a = cache_key("acme", "all", {"model": "m", "messages": [{"role": "user", "content": "\ud800"}]})
    b = cache_key("acme", "all", {"model": "m", "messages": [{"role": "user", "content": "\ud801"}]})
    assert a is not None and b is not None and a != b
    assert a == cache_key("acme", "all", {"messages": [{"role": "user", "content": "\ud800"}], "model": "m"})


async def test_lone_surrogates_do_not_leak_the_reservation(stack: Stack) -> None:
    await stack.gov.directory.create_org("admin", Org("acme", cache_mode="all", cache_ttl_s=60))
    await stack.gov.directory.set_limits("admin", "org:acme", {"daily_tokens": 1200})
    first_key = await stack.key()
    other_key = await stack.key()
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi \ud800 there"}], "max_tokens": 300}
    for _ in range(2):
        status, answer = await _post(stack, first_key, body)
        assert status == 200, answer
    assert stack.gov.governor.ledger.reserved == {}
    status, answer = await _post(stack, other_key, {"model": MODEL, "messages": MESSAGES, "max_tokens": 300})
    assert status == 200, answer
    assert stack.gov.governor.ledger.reserved == {}


class BrokenCache(ResponseCache):
    """A cache whose lookups fail: an unexpected error inside the pipeline after admission."""

    def get(self, key: str) -> CachedResponse | None:
        raise RuntimeError("cache backend exploded: secret internals")


async def test_an_unexpected_error_releases_records_500_and_answers_openai_shaped(stack: Stack) -> None:
    await stack.gov.directory.create_org("admin", Org("acme", cache_mode="all", cache_ttl_s=60))
    await stack.gov.directory.set_limits("admin", "org:acme", {"daily_tokens": 700})
    stack.gov.governor.cache = BrokenCache(1 << 20)
    key = await stack.key()
    body = {"model": MODEL, "messages": MESSAGES, "max_tokens": 600}
    for _ in range(2):  # each reserves more than half the quota: a leak would refuse the second
        status, answer = await _post(stack, key, body)
        assert status == 500, answer
        assert set(answer["error"]) == {"message", "type", "param", "code"}
        assert "secret internals" not in json.dumps(answer) and "Traceback" not in json.dumps(answer)
    assert stack.gov.governor.ledger.reserved == {}
    await stack.gov.writer.flush()
    records = await stack.gov.store.usage(org="acme")
    assert [r.status for r in records] == [500, 500]
    assert all(r.prompt_tokens == 0 and r.completion_tokens == 0 for r in records)


async def test_a_hostile_upstream_answer_nested_5000_deep_is_no_500(stack: Stack) -> None:
    await stack.gov.directory.create_org("admin", Org("acme", cache_mode="all", cache_ttl_s=60))
    await stack.gov.directory.set_limits("admin", "org:acme", {"daily_tokens": 10_000})
    stack.provider.raw_body = b"[" * 5000 + b"]" * 5000
    key = await stack.key()
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.post(
            stack.coord.url + "/v1/chat/completions", json={"model": MODEL, "messages": MESSAGES},
            headers=headers) as r:
        # Passed on as the upstream sent it, like any answer that is not a JSON object.
        assert r.status == 200 and await r.read() == stack.provider.raw_body
    assert stack.gov.governor.ledger.reserved == {}
