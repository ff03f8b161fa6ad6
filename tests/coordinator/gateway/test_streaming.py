"""Streaming pass-through: chunk by chunk, invariants kept, usage handling, cuts and disconnects."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest

from shareai.agent.backends.fake import FakeBackend
from shareai.agent.server import AgentServer, ModelPool
from tests.coordinator.gateway.helpers import KEY, MODEL, StaticDirectory, eventually, node_route, provider

MSG = [{"role": "user", "content": "tell me"}]


async def _sse(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> list[str]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as s:
        async with s.post(url + "/v1/chat/completions", json=body,
                          headers={"Authorization": f"Bearer {KEY}", **(headers or {})}) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            raw = (await resp.read()).decode()
    return [line[6:] for line in raw.split("\n") if line.startswith("data: ")]


def _check_invariants(events: list[str], *, usage_last: bool) -> str:
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len({c["id"] for c in chunks}) == 1
    with_choices = [c for c in chunks if c["choices"]]
    assert with_choices[0]["choices"][0]["delta"].get("role") == "assistant"
    assert sum(1 for c in with_choices if c["choices"][0].get("finish_reason")) == 1
    usage_chunks = [c for c in chunks if c.get("usage")]
    if usage_last:
        assert usage_chunks == [chunks[-1]] and chunks[-1]["choices"] == []
    else:
        assert usage_chunks == [] and all("usage" not in c for c in chunks)
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in with_choices)


@pytest.fixture
async def agent() -> AsyncIterator[tuple[AgentServer, str]]:
    server = AgentServer([ModelPool(MODEL, [FakeBackend(reply="Hello from the node.")])])
    server.set_data_plane_secret("ns_secret")
    port = await server.start()
    yield server, f"http://127.0.0.1:{port}/v1"
    await server.stop()


async def test_stream_pass_through_strips_usage_the_client_did_not_ask_for(fakes: Any, gateway: Any) -> None:
    up = await fakes(reply="one two three four")
    g = await gateway([provider("provider-a", up, price=(1.0, 1.0))])
    events = await _sse(g.url, {"model": MODEL, "messages": MSG, "stream": True})
    assert _check_invariants(events, usage_last=False) == "one two three four"
    assert up.bodies[0]["stream_options"] == {"include_usage": True}  # asked upstream anyway
    rec = g.records()[-1]
    assert (rec.stream, rec.status, rec.prompt_tokens, rec.completion_tokens) == (True, 200, 2, 4)
    assert rec.cost_usd == pytest.approx(6 / 1e6)
    assert rec.ttft_ms is not None


async def test_stream_keeps_usage_when_asked_and_the_sdk_reads_it(fakes: Any, gateway: Any) -> None:
    up = await fakes(reply="alpha beta")
    g = await gateway([provider("provider-a", up)])
    events = await _sse(g.url, {"model": MODEL, "messages": MSG, "stream": True,
                                "stream_options": {"include_usage": True}})
    _check_invariants(events, usage_last=True)
    stream = await g.client.chat.completions.create(model=MODEL, messages=MSG, stream=True,
                                                    stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 2


async def test_stream_through_a_real_agent_node(agent: tuple[AgentServer, str], gateway: Any) -> None:
    _, url = agent
    g = await gateway([], directory=StaticDirectory([node_route("n1", url)]))
    events = await _sse(g.url, {"model": MODEL, "messages": MSG, "stream": True})
    assert _check_invariants(events, usage_last=False) == "Hello from the node."
    raw = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG, max_tokens=3)
    assert raw.headers["x-shareai-route"] == "node:n1"
    assert raw.parse().usage.completion_tokens == 3  # type: ignore[union-attr]
    assert g.records()[-1].route == "node:n1"


async def test_a_node_with_a_wrong_secret_is_not_used(agent: tuple[AgentServer, str], fakes: Any,
                                                      gateway: Any) -> None:
    _, url = agent
    b = await fakes(reply="from b")
    g = await gateway([provider("provider-b", b, price=(1, 1))],
                      directory=StaticDirectory([node_route("n1", url, secret="wrong", price=(0, 0))]))
    raw = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG)
    assert raw.headers["x-shareai-route"] == "provider-b" and raw.headers["x-shareai-attempts"] == "2"


async def test_text_completion_stream(fakes: Any, gateway: Any) -> None:
    up = await fakes(reply="a b c")
    g = await gateway([provider("provider-a", up)])
    stream = await g.client.completions.create(model=MODEL, prompt="x", stream=True)
    assert "".join([c.choices[0].text async for c in stream if c.choices]) == "a b c"


async def test_stream_fails_over_before_the_first_byte(fakes: Any, gateway: Any) -> None:
    a, b = await fakes(), await fakes(reply="from b")
    a.fail_status = 500
    g = await gateway([provider("provider-a", a, price=(0, 0)), provider("provider-b", b, price=(1, 1))])
    events = await _sse(g.url, {"model": MODEL, "messages": MSG, "stream": True})
    assert _check_invariants(events, usage_last=False) == "from b"


async def test_stream_cut_mid_way_ends_with_an_sse_error_event(fakes: Any, gateway: Any) -> None:
    a, b = await fakes(reply="one two three four five"), await fakes()
    a.cut_after_chunks = 2
    g = await gateway([provider("provider-a", a, price=(0, 0)), provider("provider-b", b, price=(1, 1))])
    events = await _sse(g.url, {"model": MODEL, "messages": MSG, "stream": True})
    assert "[DONE]" not in events
    last = json.loads(events[-1])
    assert last["error"]["code"] == "upstream_stream_cut" and set(last["error"]) == {"message", "type", "param",
                                                                                    "code"}
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert text == "one two"  # what reached the client is kept; no second provider mixed in
    assert b.calls == 0
    assert g.records()[-1].status == 502
    with pytest.raises(openai.APIError):  # the SDK surfaces the error event
        stream = await g.client.chat.completions.create(model=MODEL, messages=MSG, stream=True)
        async for _ in stream:
            pass


async def test_client_disconnect_cancels_the_upstream(fakes: Any, gateway: Any) -> None:
    up = await fakes(reply=" ".join(["word"] * 200))
    up.chunk_delay = 0.02
    g = await gateway([provider("provider-a", up)])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        async with s.post(g.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                          json={"model": MODEL, "messages": MSG, "stream": True}) as resp:
            await resp.content.readany()
            resp.close()  # drop the connection mid-stream
    await eventually(lambda: up.cancelled == 1)
    await eventually(lambda: bool(g.records()))
    assert g.records()[-1].status == 499


async def test_an_upstream_error_event_is_relayed_once(gateway: Any) -> None:
    from aiohttp import web

    async def broken(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b'data: {"id":"x","object":"chat.completion.chunk","created":0,"model":"m",'
                         b'"choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}\n\n')
        await resp.write(b'data: {"error":{"message":"model crashed","type":"server_error","param":null,'
                         b'"code":"backend_error"}}\n\n')
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", broken)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        g = await gateway([], directory=StaticDirectory([node_route("n1", url)]))
        events = await _sse(g.url, {"model": MODEL, "messages": MSG, "stream": True})
        errors = [e for e in events if '"error"' in e]
        assert len(errors) == 1 and json.loads(errors[0])["error"]["code"] == "backend_error"
        assert g.records()[-1].status == 502
    finally:
        await runner.cleanup()
