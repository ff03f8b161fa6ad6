"""The gateway's use of the `Governor` contract: admit/settle/release, 429s, cache hits, records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest

from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.gateway.token_bound import MESSAGE_OVERHEAD, REQUEST_OVERHEAD
from shareai.coordinator.interfaces import CachedResponse, Principal, UsageRecord
from shareai.coordinator.price import Price
from shareai.wire.errors import RateLimited
from tests.coordinator.gateway.helpers import ADMIN_KEY, MODEL, provider

MSG = [{"role": "user", "content": "same prompt"}]


class Ticket:
    """Like the real admission, only the first settle or release counts (the gateway releases in a
    `finally` whatever happened, a no-op once settled)."""

    def __init__(self, log: list[tuple[str, Any]]) -> None:
        self.headers = {"x-ratelimit-remaining-requests": "9"}
        self.token_limited = False
        self.log = log
        self.done = False

    def settle(self, *, prompt_tokens: int, completion_tokens: int, cost_usd: float) -> None:
        if not self.done:
            self.done = True
            self.log.append(("settle", (prompt_tokens, completion_tokens, cost_usd)))

    def release(self) -> None:
        if not self.done:
            self.done = True
            self.log.append(("release", None))


class RecordingGovernor:
    """Admits up to `allow` requests, caches everything by body, records usage."""

    def __init__(self, allow: int = 100) -> None:
        self.allow = allow
        self.log: list[tuple[str, Any]] = []
        self.records: list[UsageRecord] = []
        self.cache: dict[str, CachedResponse] = {}

    async def admit(self, principal: Principal, *, model: str, prompt_tokens: int, max_tokens: int,
                    max_price: Price | None = None) -> Ticket:
        self.log.append(("admit", (model, prompt_tokens, max_tokens)))
        if self.allow <= 0:
            raise RateLimited("Rate limit reached for requests.", retry_after=2,
                              headers={"x-ratelimit-remaining-requests": "0"})
        self.allow -= 1
        return Ticket(self.log)

    @staticmethod
    def _key(request: dict[str, Any]) -> str:
        """Like the real cache: the whole request but its delivery fields."""
        return json.dumps({k: v for k, v in request.items() if k not in ("stream", "stream_options")},
                          sort_keys=True)

    def cache_get(self, principal: Principal, request: dict[str, Any]) -> CachedResponse | None:
        return self.cache.get(self._key(request))

    def cache_put(self, principal: Principal, request: dict[str, Any], response: CachedResponse) -> None:
        self.cache[self._key(request)] = response

    def record(self, usage: UsageRecord) -> None:
        self.records.append(usage)

    def rate_headers(self, principal: Principal) -> dict[str, str]:
        return {}


class CachingAuthenticator:
    async def authenticate(self, token: str | None) -> Principal:
        return Principal(key_id="k1", org="org-a", cache_mode="all")


async def test_admission_settles_with_usage_and_cost_and_sends_ratelimit_headers(fakes: Any, gateway: Any) -> None:
    up = await fakes(reply="two words")
    gov = RecordingGovernor()
    g = await gateway([provider("provider-a", up, price=(1.0, 1.0))], governor=gov)
    raw = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG, max_tokens=7)
    assert raw.headers["x-ratelimit-remaining-requests"] == "9"
    assert "x-shareai-cache" not in raw.headers  # caching is off for this key
    # Admission gets upper bounds: the prompt's bytes ("user", "same prompt") plus overheads.
    assert gov.log[0] == ("admit", (MODEL, REQUEST_OVERHEAD + MESSAGE_OVERHEAD + len("user") + len("same prompt"), 7))
    assert gov.log[1] == ("settle", (2, 2, pytest.approx(4 / 1e6)))


async def test_rate_limited_is_429_with_headers_and_recorded(fakes: Any, gateway: Any) -> None:
    up = await fakes()
    gov = RecordingGovernor(allow=0)
    g = await gateway([provider("provider-a", up)], governor=gov)
    with pytest.raises(openai.RateLimitError) as exc:
        await g.client.chat.completions.create(model=MODEL, messages=MSG)
    assert exc.value.response.headers["retry-after"] == "2"
    assert exc.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert up.calls == 0
    assert [r.status for r in gov.records] == [429]


async def test_failed_requests_release_their_reservation(fakes: Any, gateway: Any) -> None:
    up = await fakes()
    up.fail_status = 500
    gov = RecordingGovernor()
    g = await gateway([provider("provider-a", up)], governor=gov)
    with pytest.raises(openai.APIStatusError):
        await g.client.chat.completions.create(model=MODEL, messages=MSG)
    assert [kind for kind, _ in gov.log] == ["admit", "release"]
    assert gov.records[-1].status == 502 and gov.records[-1].route == "provider-a"


async def test_repeated_prompt_is_served_from_cache_streamed_or_not(fakes: Any, gateway: Any) -> None:
    up = await fakes(reply="cached answer")
    gov = RecordingGovernor()
    g = await gateway([provider("provider-a", up)], governor=gov, authenticator=CachingAuthenticator())
    first = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG)
    assert first.headers["x-shareai-cache"] == "miss"
    again = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG)
    assert again.headers["x-shareai-cache"] == "hit"
    assert again.headers["x-shareai-route"] == "provider-a" and again.headers["x-shareai-cost-usd"] == "0"
    assert again.parse().choices[0].message.content == "cached answer"
    stream = await g.client.chat.completions.create(model=MODEL, messages=MSG, stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "cached answer"
    assert up.calls == 1
    assert [r.cache_hit for r in gov.records] == [False, True, True]
    assert gov.records[1].cost_usd == 0.0


async def test_default_subsystems_wire_the_gateway_to_fleet_and_governance(tmp_path: Path, fakes: Any) -> None:
    up = await fakes()
    cfg = CoordinatorConfig(http_port=0, grpc_port=0, grpc_host="127.0.0.1", data_dir=tmp_path / "c",
                            providers=[provider("provider-a", up)]).validate()
    coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
    await coord.start()
    try:
        gw = coord.gateway
        assert gw.directory is not None and hasattr(gw.directory, "routes_for")
        assert type(gw.directory).__module__.startswith("shareai.coordinator.fleet")
        assert type(gw.governor).__module__.startswith("shareai.coordinator.governance")
        async with openai.AsyncOpenAI(base_url=coord.url + "/v1", api_key=ADMIN_KEY, max_retries=0,
                                      timeout=10) as client:
            raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG)
            assert raw.headers["x-shareai-route"] == "provider-a"
            assert [m.id async for m in client.models.list()] == [MODEL]
    finally:
        await coord.stop()


async def test_a_streamed_answer_fills_the_cache_for_the_next_request(fakes: Any, gateway: Any) -> None:
    up = await fakes(reply="streamed then cached")
    gov = RecordingGovernor()
    g = await gateway([provider("provider-a", up)], governor=gov, authenticator=CachingAuthenticator())
    stream = await g.client.chat.completions.create(model=MODEL, messages=MSG, stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "streamed then cached"
    raw = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG, stream=False)
    assert raw.headers["x-shareai-cache"] == "hit"
    answer = raw.parse()
    assert answer.choices[0].message.content == "streamed then cached"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.completion_tokens == 3
    assert up.calls == 1


async def test_routing_table_sets_breaker_and_node_timeout(tmp_path: Path, fakes: Any) -> None:
    from shareai.coordinator.config import parse_config

    up = await fakes()
    cfg = parse_config({
        "server": {"http_port": 0, "grpc_port": 0, "grpc_host": "127.0.0.1", "data_dir": str(tmp_path / "c")},
        "routing": {"default_policy": "fastest", "breaker_threshold": 1, "breaker_cooldown_s": 2.5,
                    "node_timeout_s": 9},
        "providers": [{"name": "provider-a", "base_url": up.base_url, "models": [{"name": MODEL}]}],
    })
    coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
    sub = coord.gateway
    await coord.start()
    try:
        assert (sub.settings.breaker_threshold, sub.settings.breaker_cooldown_s, sub.settings.node_timeout_s) == (
            1, 2.5, 9.0)
        up.fail_status = 500
        async with openai.AsyncOpenAI(base_url=coord.url + "/v1", api_key=ADMIN_KEY, max_retries=0,
                                      timeout=10) as client:
            with pytest.raises(openai.APIStatusError):
                await client.chat.completions.create(model=MODEL, messages=MSG)
        assert sub.health.state("provider-a") == "open"  # one failure was enough
    finally:
        await coord.stop()


async def test_a_pinned_request_never_gets_another_routes_cached_answer(fakes: Any, gateway: Any) -> None:
    a, b = await fakes(reply="from a"), await fakes(reply="from b")
    gov = RecordingGovernor()
    g = await gateway([provider("provider-a", a, price=(0.1, 0.1)), provider("provider-b", b, price=(0.2, 0.2))],
                      governor=gov, authenticator=CachingAuthenticator())
    unpinned = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG)
    assert unpinned.headers["x-shareai-route"] == "provider-a"
    pinned = await g.client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MSG, extra_headers={"x-shareai-route": "provider-b"})
    assert pinned.headers["x-shareai-cache"] == "miss" and pinned.headers["x-shareai-route"] == "provider-b"
    assert pinned.parse().choices[0].message.content == "from b"
    again = await g.client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MSG, extra_headers={"x-shareai-route": "provider-b"})
    assert again.headers["x-shareai-cache"] == "hit" and again.parse().choices[0].message.content == "from b"
    assert (a.calls, b.calls) == (1, 1)
