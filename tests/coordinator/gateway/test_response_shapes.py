"""The gateway's answers keep OpenAI's response schema: what a provider said, what the gateway
says itself (errors, cached replies, replayed and capped streams), checked field by field against
the schema (`shapes.py`), and a cached reply carries what the original had (issue 17)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from shareai.agent.backends.fake import FakeBackend
from shareai.agent.server import AgentServer, ModelPool
from tests.coordinator.gateway.helpers import KEY, MODEL, StaticDirectory, node_route, provider
from tests.coordinator.gateway.shapes import (
    check_chat_chunk,
    check_chat_completion,
    check_completion,
    check_embeddings,
    check_error,
)
from tests.coordinator.gateway.test_governance_hooks import CachingAuthenticator, RecordingGovernor

MSG: list[Any] = [{"role": "user", "content": "hello"}]
TOOLS: list[Any] = [{"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
TIMEOUT = aiohttp.ClientTimeout(total=15)


async def _post(url: str, path: str, body: dict[str, Any]) -> tuple[int, Any, Any]:
    """(status, headers, decoded body: JSON, or the list of SSE data payloads for a stream)."""
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s, s.post(
            url + path, json=body, headers={"Authorization": f"Bearer {KEY}"}) as r:
        raw = (await r.read()).decode()
        if r.headers.get("Content-Type", "").startswith("text/event-stream"):
            return r.status, r.headers, [line[6:] for line in raw.split("\n") if line.startswith("data: ")]
        return r.status, r.headers, json.loads(raw)


def _chunks(events: list[str]) -> list[dict[str, Any]]:
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    for c in chunks:
        check_chat_chunk(c)
    return chunks


async def test_answers_errors_and_cached_replies_keep_the_schema(fakes: Any, gateway: Any) -> None:
    up = await fakes(reply="hi there")
    up.answer_tools = True
    emb = await fakes(model="embedder")
    g = await gateway([provider("provider-a", up), provider("provider-e", emb, model="embed", embeddings=True)],
                      governor=RecordingGovernor(), authenticator=CachingAuthenticator())
    chat = {"model": MODEL, "messages": MSG}
    status, headers, first = await _post(g.url, "/v1/chat/completions", chat)
    assert status == 200 and headers["x-shareai-cache"] == "miss"
    check_chat_completion(first)
    assert first["system_fingerprint"] == up.name and first["choices"][0]["message"]["refusal"] is None
    # A cached reply is the original, field for field.
    status, headers, again = await _post(g.url, "/v1/chat/completions", chat)
    assert headers["x-shareai-cache"] == "hit" and again == first
    # ... and replayed as a stream it keeps the schema and what the original said.
    status, headers, events = await _post(g.url, "/v1/chat/completions", {**chat, "stream": True})
    assert headers["x-shareai-cache"] == "hit"
    chunks = _chunks(events)
    assert {c["system_fingerprint"] for c in chunks} == {up.name}
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "hi there"
    # A streamed answer, cached from its chunks, answers a later non-streamed request in full.
    streamed = {"model": MODEL, "messages": [{"role": "user", "content": "again"}]}
    status, _, events = await _post(g.url, "/v1/chat/completions", {**streamed, "stream": True})
    _chunks(events)
    status, headers, rebuilt = await _post(g.url, "/v1/chat/completions", streamed)
    assert headers["x-shareai-cache"] == "hit"
    check_chat_completion(rebuilt)
    assert rebuilt["system_fingerprint"] == up.name and rebuilt["choices"][0]["message"]["content"] == "hi there"
    # Tool calls, streamed and not.
    status, _, called = await _post(g.url, "/v1/chat/completions", {**chat, "tools": TOOLS})
    check_chat_completion(called)
    assert called["choices"][0]["finish_reason"] == "tool_calls"
    assert json.loads(called["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) == {"city": "x"}
    status, _, events = await _post(g.url, "/v1/chat/completions", {**chat, "tools": TOOLS, "stream": True,
                                                                     "stream_options": {"include_usage": True}})
    assert _chunks(events)[-1]["usage"]["total_tokens"] > 0
    # Text completions and embeddings.
    status, _, comp = await _post(g.url, "/v1/completions", {"model": MODEL, "prompt": "say", "max_tokens": 5})
    check_completion(comp)
    status, _, vectors = await _post(g.url, "/v1/embeddings", {"model": "embed", "input": ["a", "b"]})
    check_embeddings(vectors)
    # The gateway's own errors.
    for path, body, want in (("/v1/chat/completions", {"model": MODEL}, 400),
                             ("/v1/chat/completions", {**chat, "model": "nope"}, 404),
                             ("/v1/embeddings", {"model": MODEL, "input": "x"}, 400)):
        status, _, err = await _post(g.url, path, body)
        assert status == want
        check_error(err)
    up.fail_status = 500
    status, _, err = await _post(g.url, "/v1/chat/completions", {**chat, "seed": 1})
    assert status == 502
    check_error(err)


async def test_a_node_answer_that_falls_short_of_the_schema_is_conformed(gateway: Any) -> None:
    """Agents before issue 17 send `system_fingerprint: null` and no `message.refusal`: through the
    gateway the answer, its stream and a completion keep the schema all the same."""
    server = AgentServer([ModelPool(MODEL, [FakeBackend(reply="from the node")])])
    server.set_data_plane_secret("ns_secret")
    port = await server.start()
    try:
        g = await gateway([], directory=StaticDirectory([node_route("n1", f"http://127.0.0.1:{port}/v1")]))
        chat = {"model": MODEL, "messages": MSG, "max_tokens": 8}
        status, headers, answer = await _post(g.url, "/v1/chat/completions", chat)
        assert status == 200 and headers["x-shareai-route"] == "node:n1"
        check_chat_completion(answer)
        assert answer["choices"][0]["message"] == {"role": "assistant", "content": "from the node", "refusal": None}
        status, _, events = await _post(g.url, "/v1/chat/completions", {**chat, "stream": True})
        assert "".join(c["choices"][0]["delta"].get("content") or "" for c in _chunks(events)
                       if c["choices"]) == "from the node"
        status, _, comp = await _post(g.url, "/v1/completions", {"model": MODEL, "prompt": "p", "max_tokens": 8})
        check_completion(comp)
    finally:
        await server.stop()
