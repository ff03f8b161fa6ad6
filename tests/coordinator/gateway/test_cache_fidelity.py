"""The response cache never answers with less than the original: tool calls survive a replay, and
a stream it cannot rebuild whole (tool calls) is not cached at all."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.coordinator.gateway.helpers import MODEL, StaticDirectory, node_route
from tests.coordinator.gateway.test_governance_hooks import CachingAuthenticator, RecordingGovernor

CALL = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\": \"x\"}"}}
MSG: list[Any] = [{"role": "user", "content": "look it up"}]


class ToolUpstream:
    """An OpenAI-compatible upstream that answers every chat request with one tool call."""

    def __init__(self) -> None:
        self.calls = 0

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        body = await request.json()
        head = {"id": "chatcmpl-t", "created": 1, "model": body["model"]}
        usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        if not body.get("stream"):
            return web.json_response({**head, "object": "chat.completion", "usage": usage, "choices": [{
                "index": 0, "finish_reason": "tool_calls", "logprobs": None,
                "message": {"role": "assistant", "content": None, "tool_calls": [CALL]}}]})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        chunk = {**head, "object": "chat.completion.chunk"}
        for choice in ({"index": 0, "delta": {"role": "assistant", "content": None,
                                              "tool_calls": [{"index": 0, **CALL}]}, "finish_reason": None},
                       {"index": 0, "delta": {}, "finish_reason": "tool_calls"}):
            await resp.write(f"data: {json.dumps({**chunk, 'choices': [choice]})}\n\n".encode())
        await resp.write(f"data: {json.dumps({**chunk, 'choices': [], 'usage': usage})}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        return resp


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[ToolUpstream, str]]:
    up = ToolUpstream()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", up.chat)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield up, f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    finally:
        await runner.cleanup()


async def test_a_streamed_tool_call_is_not_cached(upstream: Any, gateway: Any) -> None:
    up, url = upstream
    g = await gateway([], directory=StaticDirectory([node_route("n1", url)]), governor=RecordingGovernor(),
                      authenticator=CachingAuthenticator())
    for _ in range(2):
        stream = await g.client.chat.completions.create(model=MODEL, messages=MSG, stream=True)
        calls = [tc for c in [c async for c in stream] if c.choices for tc in c.choices[0].delta.tool_calls or []]
        assert [(tc.id, tc.function.name if tc.function else None) for tc in calls] == [("call_1", "lookup")]
    assert up.calls == 2  # the stream could not be rebuilt whole, so nothing was cached


async def test_a_cached_tool_call_replays_its_tool_calls_as_a_stream(upstream: Any, gateway: Any) -> None:
    up, url = upstream
    g = await gateway([], directory=StaticDirectory([node_route("n1", url)]), governor=RecordingGovernor(),
                      authenticator=CachingAuthenticator())
    first = await g.client.chat.completions.create(model=MODEL, messages=MSG)
    assert first.choices[0].message.tool_calls and first.choices[0].message.tool_calls[0].id == "call_1"
    raw = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG, stream=True)
    assert raw.headers["x-shareai-cache"] == "hit"
    chunks = [c async for c in raw.parse()]
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert [(tc.index, tc.id, tc.function.arguments if tc.function else None) for tc in calls] == [
        (0, "call_1", "{\"q\": \"x\"}")]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert up.calls == 1
