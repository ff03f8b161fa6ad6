"""Tools and embeddings through the gateway to a real llama.cpp node on the bundled model, with the
`openai` SDK as the client: a weather-tool round trip (whole and streamed), every `tool_choice`,
and embeddings. The tiny model's choices may be poor; the shapes and the grammar must be exact."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from shareai.agent.backends.llama import LlamaBackend
from shareai.agent.slots import ModelPool
from tests.coordinator.node_world import NodeWorld, node_world

pytestmark = pytest.mark.llama

CHAT, EMBED = "gemma-3-270m", "gemma-3-270m-embed"
WEATHER_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "The city, e.g. Paris"},
                   "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"], "additionalProperties": False}
WEATHER: Any = {"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
                                                 "parameters": WEATHER_PARAMS}}
TIME_PARAMS: dict[str, Any] = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TIME: Any = {"type": "function", "function": {"name": "get_time", "description": "The local time in a city",
                                              "parameters": TIME_PARAMS}}
ASK: Any = [{"role": "user", "content": "What is the weather in Paris right now?"}]


@pytest.fixture
async def world(tmp_path: Path, model_path: Path) -> AsyncIterator[NodeWorld]:
    chat = LlamaBackend.load(model_path, chat_format="gemma", n_ctx=1024, n_gpu_layers=0)
    embed = LlamaBackend.load(model_path, chat_format=None, n_ctx=256, n_gpu_layers=0, embeddings=True)
    pools = [ModelPool(CHAT, [chat], queue_limit=4), ModelPool(EMBED, [embed], queue_limit=4)]
    async with node_world(tmp_path, pools) as w:
        yield w


def _valid_call(name: str, arguments: str) -> dict[str, Any]:
    assert name in ("get_weather", "get_time")
    args = json.loads(arguments)
    jsonschema.validate(args, WEATHER_PARAMS if name == "get_weather" else TIME_PARAMS)
    return dict(args)


async def test_a_weather_round_trip_whole_and_streamed(world: NodeWorld) -> None:
    async with world.client() as c:
        raw = await c.chat.completions.with_raw_response.create(
            model=CHAT, messages=ASK, tools=[WEATHER], tool_choice="required", parallel_tool_calls=False,
            max_tokens=60, temperature=0)
        assert raw.headers["x-shareai-route"] == world.node_route
        first = raw.parse()
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content is None
        assert first.system_fingerprint and first.system_fingerprint.startswith("shareai-")
        (call,) = choice.message.tool_calls or []
        assert call.type == "function" and call.id.startswith("call_")
        _valid_call(call.function.name, call.function.arguments)
        history = [*ASK, choice.message.model_dump(exclude_none=True),
                   {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp": 18, "sky": "sunny"})}]
        # Second turn, streamed: the model may answer or call again; either way the shape is exact.
        stream = await c.chat.completions.create(model=CHAT, messages=history, tools=[WEATHER], max_tokens=24,
                                                 temperature=0, stream=True, stream_options={"include_usage": True})
        text, calls, reasons, usage = "", {}, [], None
        async for chunk in stream:
            usage = chunk.usage or usage
            for ch in chunk.choices:
                text += ch.delta.content or ""
                for tc in ch.delta.tool_calls or []:
                    entry = calls.setdefault(tc.index, {"id": tc.id, "name": "", "arguments": ""})
                    if tc.function is not None:
                        entry["name"] += tc.function.name or ""
                        entry["arguments"] += tc.function.arguments or ""
                if ch.finish_reason:
                    reasons.append(ch.finish_reason)
        assert len(reasons) == 1 and usage is not None and usage.completion_tokens > 0
        if calls:
            assert reasons == ["tool_calls"] or reasons == ["length"]
            assert all(e["id"] and e["id"].startswith("call_") for e in calls.values())
            if reasons == ["tool_calls"]:
                for e in calls.values():
                    _valid_call(e["name"], e["arguments"])
        else:
            assert text and reasons[0] in ("stop", "length")


async def test_a_streamed_forced_call_has_openais_delta_shape(world: NodeWorld) -> None:
    async with world.client() as c:
        stream = await c.chat.completions.create(
            model=CHAT, messages=ASK, tools=[WEATHER, TIME], parallel_tool_calls=False, max_tokens=40,
            tool_choice={"type": "function", "function": {"name": "get_time"}}, temperature=0, stream=True)
        deltas = [ch.delta for chunk in [c async for c in stream] for ch in chunk.choices]
    call_deltas = [tc for d in deltas for tc in d.tool_calls or []]
    opening, rest = call_deltas[0], call_deltas[1:]
    assert opening.index == 0 and opening.id and opening.type == "function"
    assert opening.function is not None and opening.function.name == "get_time" and opening.function.arguments == ""
    assert rest and all(tc.id is None and tc.function is not None and tc.function.name is None for tc in rest)
    args = "".join(tc.function.arguments or "" for tc in rest if tc.function is not None)
    assert _valid_call("get_time", args)["city"]


async def test_tool_choice_auto_and_none(world: NodeWorld) -> None:
    async with world.client() as c:
        auto = await c.chat.completions.create(model=CHAT, messages=ASK, tools=[WEATHER, TIME], max_tokens=40,
                                               temperature=0, parallel_tool_calls=False)
        none = await c.chat.completions.create(model=CHAT, messages=ASK, tools=[WEATHER], tool_choice="none",
                                               max_tokens=8, temperature=0)
    msg = auto.choices[0].message
    if msg.tool_calls:
        assert auto.choices[0].finish_reason in ("tool_calls", "length") and msg.content is None
        if auto.choices[0].finish_reason == "tool_calls":
            for call in msg.tool_calls:
                _valid_call(call.function.name, call.function.arguments)
    else:
        assert msg.content and not msg.content.startswith("<tool_call>")
    assert none.choices[0].message.tool_calls is None and none.choices[0].message.content
    assert none.choices[0].finish_reason in ("stop", "length")


async def test_embeddings_through_the_gateway(world: NodeWorld) -> None:
    texts = ["The weather in Paris is sunny.", "Il fait beau à Paris.", "Stock prices fell sharply today."]
    async with world.client() as c:
        raw = await c.embeddings.with_raw_response.create(model=EMBED, input=texts, encoding_format="float")
        assert raw.headers["x-shareai-route"] == world.node_route
        batch = raw.parse()
        singles = [(await c.embeddings.create(model=EMBED, input=t, encoding_format="float")).data[0].embedding
                   for t in texts]
        b64 = await c.embeddings.create(model=EMBED, input=texts[0], encoding_format="base64")
    vectors = [d.embedding for d in batch.data]
    assert [d.index for d in batch.data] == [0, 1, 2] and batch.model == EMBED
    assert batch.usage.prompt_tokens > 0 and batch.usage.total_tokens == batch.usage.prompt_tokens
    cos = sum(a * a for a in vectors[0])
    assert abs(cos - 1.0) < 1e-5  # a text with itself
    for got, alone in zip(vectors, singles, strict=True):
        assert max(abs(a - b) for a, b in zip(got, alone, strict=True)) < 1e-5
    encoded = b64.data[0].embedding
    assert isinstance(encoded, str)
    floats = struct.unpack(f"<{len(vectors[0])}f", base64.b64decode(encoded))
    assert max(abs(a - b) for a, b in zip(floats, vectors[0], strict=True)) < 1e-6
