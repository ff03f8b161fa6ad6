"""Quotas and token limits hold against a provider whose tokenizer is denser than any estimate,
through the real gateway and the official SDK, for requests that name no `max_tokens`.

The fake provider reports usage as a dense tokenizer would (`bytes_per_token`: 1 is the densest
possible, "a a a a ..." is about 2 on real tokenizers) and one completion token per reply word. The
reservation is an upper bound (prompt bytes plus overheads plus the completion cap), the cap is
forwarded upstream when the client gave none, and streams are cut at it, so booked tokens never pass
`daily_tokens` and a minute never lets more than `tpm` through; a provider that ignores `max_tokens`
is booked in full and logged as an overrun (bounded by that one request)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import openai
import pytest

from shareai.coordinator.governance.models import Org
from shareai.coordinator.governance.quota import period_keys
from tests.coordinator.governance.test_gateway_e2e import MODEL, Stack, stack

__all__ = ["stack"]  # the fixture, imported for pytest

DENSE_PROMPT = " ".join(["a"] * 100)  # 199 bytes: ~100 tokens on real tokenizers, 50 by characters/4
DEFAULT_MAX_TOKENS = 256  # GatewayOptions.default_max_tokens


def _messages(prompt: str = DENSE_PROMPT) -> list[Any]:
    return [{"role": "user", "content": prompt}]


async def _burst(stack: Stack, key: str, n: int, *, stream_every: int = 2, **kw: Any) -> list[Any]:
    """n concurrent requests (every `stream_every`-th streamed), without max_tokens unless `kw` says."""
    async with stack.client(key) as c:
        async def one(i: int) -> Any:
            try:
                if i % stream_every == 1:
                    s = await c.chat.completions.create(model=MODEL, messages=_messages(), stream=True,
                                                        stream_options={"include_usage": True}, **kw)
                    return [ch async for ch in s]
                return await c.chat.completions.create(model=MODEL, messages=_messages(), **kw)
            except openai.RateLimitError as exc:
                return exc

        return list(await asyncio.gather(*(one(i) for i in range(n))))


async def _booked(stack: Stack) -> tuple[int, list[Any]]:
    """Tokens booked to the org (its usage records; the quota ledger, where a quota keeps one, agrees)."""
    await stack.gov.writer.flush()
    records = await stack.gov.store.usage(org="acme")
    day = period_keys(stack.gov.clock())[0]
    ledger = stack.gov.governor.ledger.used.get(("org:acme", day))
    booked = sum(r.prompt_tokens + r.completion_tokens for r in records)
    assert ledger is None or ledger.tokens == booked
    return booked, records


async def test_daily_tokens_hold_for_12_concurrent_requests_without_max_tokens(stack: Stack) -> None:
    stack.provider.bytes_per_token = 2
    stack.provider.honour_max_tokens = True
    stack.provider.reply = " ".join(["w"] * 400)  # would write 400 tokens if nobody capped it
    key = await stack.key()
    await stack.gov.directory.set_limits("admin", "org:acme", {"daily_tokens": 3000})
    results = await _burst(stack, key, 12)
    booked, records = await _booked(stack)
    ok = [r for r in results if not isinstance(r, openai.RateLimitError)]
    assert ok and len(ok) < 12, "some requests fit, the rest are refused"
    assert booked <= 3000, f"booked {booked} tokens against a daily quota of 3000"
    assert stack.gov.governor.ledger.reserved == {}
    # The gateway told the provider the cap it reserved, and the provider stopped there.
    assert all(b.get("max_tokens") == DEFAULT_MAX_TOKENS for b in stack.provider.bodies)
    assert all(r.completion_tokens == DEFAULT_MAX_TOKENS for r in records if r.status == 200)
    assert not any("overrun" in r.extra for r in records)


async def test_daily_tokens_hold_for_the_densest_prompt(stack: Stack) -> None:
    stack.provider.bytes_per_token = 1  # every byte a token: no tokenizer counts more
    stack.provider.honour_max_tokens = True
    stack.provider.reply = " ".join(["w"] * 40)
    key = await stack.key()
    await stack.gov.directory.set_limits("admin", "org:acme", {"daily_tokens": 1000})
    results = await _burst(stack, key, 12, max_tokens=40)
    booked, _ = await _booked(stack)
    assert any(not isinstance(r, openai.RateLimitError) for r in results)
    assert booked <= 1000, f"booked {booked} tokens against a daily quota of 1000"


async def test_tpm_lets_no_more_than_its_limit_through_in_the_minute(stack: Stack) -> None:
    stack.provider.bytes_per_token = 2
    stack.provider.honour_max_tokens = True
    stack.provider.reply = " ".join(["w"] * 400)
    key = await stack.key()
    await stack.gov.directory.set_limits("admin", "org:acme", {"tpm": 1000})
    started = stack.gov.clock()
    results = await _burst(stack, key, 12)
    _, records = await _booked(stack)
    assert stack.gov.clock() - started < 60, "the whole burst ran inside one minute"
    used = sum(r.prompt_tokens + r.completion_tokens for r in records)
    assert any(not isinstance(r, openai.RateLimitError) for r in results)
    assert used <= 1000, f"{used} tokens went through in one minute against a tpm of 1000"


async def test_a_provider_ignoring_max_tokens_is_booked_in_full_and_logged_as_an_overrun(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    stack.provider.bytes_per_token = 2
    stack.provider.reply = " ".join(["w"] * 600)  # writes 600 tokens whatever max_tokens says
    key = await stack.key()
    await stack.gov.directory.set_limits("admin", "org:acme", {"daily_tokens": 1000})
    caplog.set_level(logging.WARNING, logger="shareai.coordinator.gateway.api")
    async with stack.client(key) as c:
        first = await c.chat.completions.create(model=MODEL, messages=_messages())
        assert first.usage is not None and first.usage.completion_tokens == 600
        with pytest.raises(openai.RateLimitError) as refused:  # the overrun counts: nothing else fits
            await c.chat.completions.create(model=MODEL, messages=_messages())
        assert refused.value.code == "insufficient_quota"
    booked, records = await _booked(stack)
    assert booked == first.usage.total_tokens  # booked in full, above its reservation
    reserved = 64 + 16 + len("user") + len(DENSE_PROMPT) + DEFAULT_MAX_TOKENS
    assert records[0].extra == {"overrun": booked - reserved}
    assert any("quota overrun" in r.getMessage() for r in caplog.records)


async def test_a_stream_from_a_provider_ignoring_max_tokens_ends_at_the_cap(stack: Stack) -> None:
    stack.provider.bytes_per_token = 2
    stack.provider.reply = " ".join(["w"] * 600)
    key = await stack.key()
    await stack.gov.directory.set_limits("admin", "org:acme", {"daily_tokens": 2000})
    async with stack.client(key) as c:
        s = await c.chat.completions.create(model=MODEL, messages=_messages(), stream=True,
                                            stream_options={"include_usage": True})
        chunks = [ch async for ch in s]  # the SDK saw a well-formed stream ending in [DONE]
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert len(text.split()) == DEFAULT_MAX_TOKENS
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finishes == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == DEFAULT_MAX_TOKENS
    booked, records = await _booked(stack)
    reserved = 64 + 16 + len("user") + len(DENSE_PROMPT) + DEFAULT_MAX_TOKENS
    assert booked == reserved and records[0].extra == {"estimated": True, "capped": True}
    assert stack.gov.governor.ledger.reserved == {}


async def test_the_cap_is_forwarded_only_where_a_token_limit_applies(stack: Stack) -> None:
    free = await stack.key(org="free")  # no limits: the client's request goes upstream as sent
    await stack.gov.directory.set_limits("admin", "org:free", {"rpm": 100})  # a request limit is no token limit
    limited = await stack.key()
    await stack.gov.directory.set_limits("admin", "org:acme", {"tpm": 100_000})
    async with stack.client(free) as c:
        await c.chat.completions.create(model=MODEL, messages=_messages())
    async with stack.client(limited) as c:
        await c.chat.completions.create(model=MODEL, messages=_messages())
        await c.chat.completions.create(model=MODEL, messages=_messages(), max_completion_tokens=7)
        await c.completions.create(model=MODEL, prompt="hi")
    first, second, third, fourth = stack.provider.bodies
    assert "max_tokens" not in first
    assert second["max_tokens"] == DEFAULT_MAX_TOKENS
    assert "max_tokens" not in third and third["max_completion_tokens"] == 7  # the client's own cap
    assert fourth["max_tokens"] == DEFAULT_MAX_TOKENS


async def test_a_completions_stream_ignoring_max_tokens_ends_at_the_cap(stack: Stack) -> None:
    stack.provider.bytes_per_token = 2
    stack.provider.reply = " ".join(["w"] * 300)
    await stack.gov.directory.create_org("admin", Org("acme", cache_mode="all", cache_ttl_s=60))
    key = await stack.key()
    await stack.gov.directory.set_limits("admin", "org:acme", {"tpm": 5000})
    async with stack.client(key) as c:
        s = await c.completions.create(model=MODEL, prompt=DENSE_PROMPT, max_tokens=20, stream=True)
        chunks = [ch async for ch in s]
    text = "".join(ch.choices[0].text for ch in chunks if ch.choices)
    assert len(text.split()) == 20
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason] == ["length"]
    assert all(ch.usage is None for ch in chunks)  # the client did not ask for usage
    _, records = await _booked(stack)
    assert records[0].extra == {"estimated": True, "capped": True}
    assert records[0].completion_tokens == 20
    assert len(stack.gov.governor.cache) == 0  # a cut stream is not the upstream's answer: not cached
