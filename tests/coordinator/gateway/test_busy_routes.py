"""Busy is not broken: when every route answered 429 (a node whose slots and queue are full, a
rate-limited provider) or 503, the client hears 429 (or 503) with the soonest `retry-after`, so
SDKs raise `RateLimitError` and retry; 502 stays for targets that really broke (issue 17)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from shareai.agent.backends.fake import FakeBackend
from shareai.agent.server import AgentServer, ModelPool
from tests.coordinator.gateway.helpers import MODEL, StaticDirectory, node_route, provider

MSG: list[Any] = [{"role": "user", "content": "hello"}]


@pytest.fixture
async def one_slot_node() -> AsyncIterator[str]:
    """A node with one slot and a queue of one, each answer taking a while (10 words, 0.2 s each)."""
    backend = FakeBackend(reply="one two three four five six seven eight nine ten", token_delay_s=0.2)
    server = AgentServer([ModelPool(MODEL, [backend], queue_limit=1, retry_after_s=2.0)])
    server.set_data_plane_secret("ns_secret")
    port = await server.start()
    yield f"http://127.0.0.1:{port}/v1"
    await server.stop()


async def test_a_burst_on_a_one_slot_node_gets_rate_limit_errors_not_502(one_slot_node: str, gateway: Any) -> None:
    g = await gateway([], directory=StaticDirectory([node_route("n1", one_slot_node)]))
    client = g.client.with_options(default_headers={"x-shareai-route": "node:n1"})

    async def one() -> Any:
        try:
            return await client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG)
        except openai.APIStatusError as exc:
            return exc

    outcomes = await asyncio.gather(*(one() for _ in range(14)))
    errors = [o for o in outcomes if isinstance(o, openai.APIStatusError)]
    assert errors, "a one-slot node with a queue of one cannot take 14 requests at once"
    assert len(errors) <= 12  # one ran, one waited
    for err in errors:
        assert isinstance(err, openai.RateLimitError), (err.status_code, err.body)
        assert err.response.headers["retry-after"] == "2"
        assert err.response.headers["x-shareai-route"] == "node:n1"
        assert err.response.headers["x-shareai-attempts"] == "1"
        assert err.code == "routes_busy" and err.type == "rate_limit_error"
    assert sorted(r.status for r in g.records()) == sorted(
        [200] * (14 - len(errors)) + [429] * len(errors))


async def test_every_provider_throttled_answers_429_with_the_soonest_retry_after(fakes: Any, gateway: Any) -> None:
    a, b = await fakes(name="a"), await fakes(name="b")
    a.fail_status = b.fail_status = 429
    a.fail_headers, b.fail_headers = {"retry-after": "7"}, {"retry-after": "3"}
    g = await gateway([provider("provider-a", a), provider("provider-b", b, price=(1.0, 1.0))])
    for stream in (False, True):
        with pytest.raises(openai.RateLimitError) as info:
            await g.client.chat.completions.create(model=MODEL, messages=MSG, stream=stream)
        headers = info.value.response.headers
        assert headers["retry-after"] == "3" and headers["x-shareai-attempts"] == "2"
        body = info.value.body
        assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}
        assert (body["type"], body["code"]) == ("rate_limit_error", "routes_busy")
    assert a.calls == b.calls == 2


async def test_throttled_and_unavailable_routes_answer_429_and_only_unavailable_ones_503(
        fakes: Any, gateway: Any) -> None:
    a, b = await fakes(name="a"), await fakes(name="b")
    a.fail_status, b.fail_status = 503, 429
    a.fail_headers = {"retry-after": "5"}
    g = await gateway([provider("provider-a", a), provider("provider-b", b, price=(1.0, 1.0))])
    with pytest.raises(openai.RateLimitError) as info:
        await g.client.chat.completions.create(model=MODEL, messages=MSG)
    assert info.value.response.headers["retry-after"] == "1"  # b's, sooner than a's 5
    b.fail_status = 503
    with pytest.raises(openai.InternalServerError) as unavailable:
        await g.client.chat.completions.create(model=MODEL, messages=MSG)
    assert unavailable.value.status_code == 503 and unavailable.value.code == "routes_unavailable"
    assert unavailable.value.response.headers["retry-after"] == "5"


async def test_a_target_that_really_broke_still_makes_it_a_502(fakes: Any, gateway: Any) -> None:
    a, b = await fakes(name="a"), await fakes(name="b")
    a.fail_status, b.fail_status = 500, 429
    g = await gateway([provider("provider-a", a), provider("provider-b", b, price=(1.0, 1.0))])
    with pytest.raises(openai.InternalServerError) as info:
        await g.client.chat.completions.create(model=MODEL, messages=MSG)
    assert info.value.status_code == 502 and info.value.code == "upstream_failed"
    assert "retry-after" not in info.value.response.headers


@pytest.mark.parametrize("value", ["nan", "-5", "inf", "Wed, 21 Oct 2026 07:28:00 GMT", "soon"])
async def test_a_hostile_retry_after_is_ignored_not_relayed(fakes: Any, gateway: Any, value: str) -> None:
    a, b = await fakes(name="a"), await fakes(name="b")
    a.fail_status = b.fail_status = 429
    a.fail_headers, b.fail_headers = {"retry-after": value}, {"retry-after": "4"}
    g = await gateway([provider("provider-a", a), provider("provider-b", b, price=(1.0, 1.0))])
    with pytest.raises(openai.RateLimitError) as info:
        await g.client.chat.completions.create(model=MODEL, messages=MSG)
    assert info.value.response.headers["retry-after"] == "4"  # the one usable value
    b.fail_headers = {"retry-after": value}
    with pytest.raises(openai.RateLimitError) as none:
        await g.client.chat.completions.create(model=MODEL, messages=MSG, seed=1)
    assert "retry-after" not in none.value.response.headers
