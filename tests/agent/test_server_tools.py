"""Tool calls and embeddings on the node's endpoint (light backend), through the official SDK, with
every answer shape checked against OpenAI's own OpenAPI description."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest

from shareai.agent.backends.fake import FakeBackend
from shareai.agent.server import AgentServer
from tests.agent.helpers import client, pool_of, running
from tests.openai_spec import check

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city", "unit"]}}}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {
    "type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}}
ASK = [{"role": "user", "content": "What's the weather in Paris?"}]


@pytest.fixture
async def served() -> AsyncIterator[tuple[AgentServer, str]]:
    pools = [pool_of("tools", lambda: FakeBackend(reply="It is sunny.")),
             pool_of("plain", lambda: FakeBackend(supports_tools=False)),
             pool_of("embed", lambda: FakeBackend(embeddings=True, n_embd=16))]
    async with running(pools) as s:
        yield s


async def _post(url: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(url + path, json=body) as resp:
        return resp.status, await resp.json()


async def _sse(url: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    chunks = []
    async with aiohttp.ClientSession() as http, http.post(url + "/chat/completions", json=body) as resp:
        assert resp.status == 200
        async for line in resp.content:
            text = line.decode().strip()
            if text.startswith("data: ") and text != "data: [DONE]":
                chunks.append(json.loads(text[6:]))
    return chunks


async def test_a_tool_call_answer_has_openais_exact_shape(served: tuple[AgentServer, str]) -> None:
    _, url = served
    status, body = await _post(url, "/chat/completions", {"model": "tools", "messages": ASK, "tools": [WEATHER]})
    assert status == 200
    check("CreateChatCompletionResponse", body)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] is None and message["refusal"] is None and message["role"] == "assistant"
    (call,) = message["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "x", "unit": "celsius"}
    assert body["system_fingerprint"].startswith("shareai-") and body["system_fingerprint"].endswith("-fake")


async def test_a_round_trip_through_the_sdk_ends_in_text(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        first = await c.chat.completions.create(model="tools", messages=ASK, tools=[WEATHER])  # type: ignore[list-item]
        msg = first.choices[0].message
        assert first.choices[0].finish_reason == "tool_calls" and msg.tool_calls
        call = msg.tool_calls[0]
        history: list[Any] = [*ASK, msg.model_dump(exclude_none=True),
                              {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 18}'}]
        second = await c.chat.completions.create(model="tools", messages=history, tools=[WEATHER])  # type: ignore[list-item]
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "It is sunny." and not second.choices[0].message.tool_calls


async def test_streamed_tool_call_deltas_have_openais_exact_shape(served: tuple[AgentServer, str]) -> None:
    _, url = served
    chunks = await _sse(url, {"model": "tools", "messages": ASK, "tools": [WEATHER, CLOCK], "stream": True,
                              "stream_options": {"include_usage": True},
                              "tool_choice": {"type": "function", "function": {"name": "get_time"}}})
    for chunk in chunks:
        check("CreateChatCompletionStreamResponse", chunk)
    assert len({c["id"] for c in chunks}) == 1
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0]["role"] == "assistant"
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    opening, rest = calls[0], calls[1:]
    assert opening == {"index": 0, "id": opening["id"], "type": "function",
                       "function": {"name": "get_time", "arguments": ""}}
    assert rest and all(set(c) == {"index", "function"} and set(c["function"]) == {"arguments"} for c in rest)
    assert json.loads("".join(c["function"]["arguments"] for c in rest)) == {"tz": "x"}
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finishes == ["tool_calls"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


async def test_the_sdk_reassembles_a_streamed_call(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        stream = await c.chat.completions.create(model="tools", messages=ASK, tools=[WEATHER],  # type: ignore[list-item]
                                                 tool_choice="required", stream=True)
        name, args, reason = "", "", None
        async for chunk in stream:
            for tc in chunk.choices[0].delta.tool_calls or []:
                name += tc.function.name or "" if tc.function else ""
                args += tc.function.arguments or "" if tc.function else ""
            reason = chunk.choices[0].finish_reason or reason
    assert (name, json.loads(args), reason) == ("get_weather", {"city": "x", "unit": "celsius"}, "tool_calls")


async def test_tool_choice_none_answers_text(served: tuple[AgentServer, str]) -> None:
    _, url = served
    status, body = await _post(url, "/chat/completions", {"model": "tools", "messages": ASK, "tools": [WEATHER],
                                                          "tool_choice": "none"})
    assert status == 200
    check("CreateChatCompletionResponse", body)
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "It is sunny.", "refusal": None}
    assert body["choices"][0]["finish_reason"] == "stop"


async def test_plain_answers_and_chunks_match_the_schema(served: tuple[AgentServer, str]) -> None:
    _, url = served
    status, body = await _post(url, "/chat/completions", {"model": "tools", "messages": ASK, "logprobs": True,
                                                          "top_logprobs": 1})
    assert status == 200
    check("CreateChatCompletionResponse", body)
    for chunk in await _sse(url, {"model": "tools", "messages": ASK, "stream": True,
                                  "stream_options": {"include_usage": True}}):
        check("CreateChatCompletionStreamResponse", chunk)
    status, body = await _post(url, "/completions", {"model": "tools", "prompt": "Once", "logprobs": 1})
    assert status == 200
    check("CreateCompletionResponse", body)
    status, body = await _post(url, "/chat/completions", {"model": "nope", "messages": ASK})
    assert status == 404
    check("ErrorResponse", body)


async def test_a_model_without_tool_support_refuses_tools_and_tool_messages(served: tuple[AgentServer, str]) -> None:
    _, url = served
    status, body = await _post(url, "/chat/completions", {"model": "plain", "messages": ASK, "tools": [WEATHER]})
    assert (status, body["error"]["param"], body["error"]["code"]) == (400, "tools", "unsupported_parameter")
    check("ErrorResponse", body)
    history = [*ASK, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C"}]
    status, body = await _post(url, "/chat/completions", {"model": "plain", "messages": history})
    assert (status, body["error"]["param"]) == (400, "messages[1]")


@pytest.mark.parametrize(("body", "param"), [
    ({"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "get_time"}}}, "tool_choice"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"n": {"type": "integer", "minimum": 3}}}}}]}, None),
    ({"tools": [WEATHER] * 2}, "tools"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"tools": [WEATHER], "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
])
async def test_hostile_tool_bodies_are_400s(served: tuple[AgentServer, str], body: dict[str, Any],
                                            param: str | None) -> None:
    _, url = served
    status, out = await _post(url, "/chat/completions", {"model": "tools", "messages": ASK, **body})
    if param is None:  # the light backend enforces no schema: the request is fine for it
        assert status == 200
        return
    assert status == 400 and out["error"]["param"] == param and out["error"]["type"] == "invalid_request_error"


# -- embeddings -------------------------------------------------------------------------------------------


async def test_embeddings_float_base64_batch_and_tokens(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        one = await c.embeddings.create(model="embed", input="hello world")
        batch = await c.embeddings.create(model="embed", input=["hello world", "good bye"])
        b64 = await c.embeddings.create(model="embed", input=["hello world"], encoding_format="base64")
        tokens = await c.embeddings.create(model="embed", input=[[1, 2, 3], [4]])
    vec = one.data[0].embedding
    assert len(vec) == 16 and abs(sum(v * v for v in vec) - 1.0) < 1e-6  # the SDK asks for base64 (float32)
    assert [d.index for d in batch.data] == [0, 1] and batch.data[0].embedding == vec
    assert batch.usage.prompt_tokens == 4 and batch.usage.total_tokens == 4
    # Asked for explicitly, base64 comes back as sent: little-endian float32, the same vector.
    encoded = b64.data[0].embedding
    assert isinstance(encoded, str)
    assert all(abs(a - b) < 1e-6 for a, b in zip(struct.unpack("<16f", base64.b64decode(encoded)), vec, strict=True))
    assert len(tokens.data) == 2 and tokens.usage.prompt_tokens == 4
    status, raw = await _post(url, "/embeddings", {"model": "embed", "input": "hello world",
                                                   "encoding_format": "base64"})
    assert status == 200
    # OpenAI's spec describes only float vectors (its own base64 answers do not match it either).
    check("CreateEmbeddingResponse", {**raw, "data": [{**d, "embedding": [0.0]} for d in raw["data"]]})
    floats = struct.unpack("<16f", base64.b64decode(raw["data"][0]["embedding"]))
    assert all(abs(a - b) < 1e-6 for a, b in zip(floats, vec, strict=True))
    status, raw = await _post(url, "/embeddings", {"model": "embed", "input": ["a", "b"], "dimensions": 16})
    assert status == 200  # the model's own size is fine
    check("CreateEmbeddingResponse", raw)


@pytest.mark.parametrize(("body", "status", "param"), [
    ({"model": "embed", "input": "x", "dimensions": 8}, 400, "dimensions"),
    ({"model": "embed", "input": ""}, 400, "input"),
    ({"model": "embed", "input": []}, 400, "input"),
    ({"model": "embed", "input": [[1, -2]]}, 400, "input"),
    ({"model": "embed", "input": [1, "a"]}, 400, "input"),
    ({"model": "embed", "input": ["a"] * 2049}, 400, "input"),
    ({"model": "embed", "input": "x", "encoding_format": "int8"}, 400, "encoding_format"),
    ({"model": "embed", "input": "x", "stream": True}, 400, "stream"),
    ({"model": "embed", "input": "x", "user": 5, "extra": 1}, 400, "extra"),
    ({"model": "embed", "input": " ".join(["w"] * 3000)}, 400, "input"),
    ({"model": "tools", "input": "x"}, 400, "model"),
    ({"model": "nope", "input": "x"}, 404, "model"),
])
async def test_bad_embedding_requests(served: tuple[AgentServer, str], body: dict[str, Any], status: int,
                                      param: str) -> None:
    _, url = served
    got, out = await _post(url, "/embeddings", body)
    assert (got, out["error"]["param"]) == (status, param)
    check("ErrorResponse", out)


async def test_an_embedding_model_does_not_chat(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        with pytest.raises(openai.BadRequestError) as exc:
            await c.chat.completions.create(model="embed", messages=ASK)  # type: ignore[arg-type]
    assert exc.value.param == "model"
