"""The agent over the real llama.cpp runtime and the bundled model, through the official SDK.

Backends are loaded once per module (two instances) and lent to a fresh pool and server per test.
Generations stay at max_tokens <= 24: the bundled model runs at ~30 tokens/s on a small CPU.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from shareai.agent.backends.llama import LlamaBackend
from shareai.agent.server import AgentServer
from shareai.agent.slots import ModelPool
from tests.agent.helpers import client, eventually, running

pytestmark = pytest.mark.llama

NAME = "gemma-3-270m"
N_CTX = 512
COUNT = "1, 2, 3, 4, 5,"  # the bundled base model continues this " 6, 7, 8, ..." greedily
MSG = [{"role": "user", "content": "Count: 1, 2, 3,"}]


@pytest.fixture(scope="module")
def backends(model_path: Path) -> Iterator[list[LlamaBackend]]:
    loaded = [LlamaBackend.load(model_path, chat_format="gemma", n_ctx=N_CTX, n_gpu_layers=0) for _ in range(2)]
    yield loaded
    for b in loaded:
        b.close()


def serving(
    backends: list[LlamaBackend], *, slots: int = 2, queue_limit: int = 8, api_key: str | None = None
) -> AbstractAsyncContextManager[tuple[AgentServer, str]]:
    pool = ModelPool(NAME, backends[:slots], queue_limit=queue_limit)
    return running([pool], api_key=api_key, close_models=False)


@pytest.fixture
async def served(backends: list[LlamaBackend]) -> AsyncIterator[tuple[AgentServer, str]]:
    async with serving(backends) as s:
        yield s


async def test_chat_non_streaming(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        r = await c.chat.completions.create(model=NAME, messages=MSG, max_tokens=8, seed=7, temperature=0.5)
    choice = r.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert r.usage is not None and r.usage.prompt_tokens > 5
    assert 0 < r.usage.completion_tokens <= 8
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


async def test_seed_makes_sampling_reproducible(backends: list[LlamaBackend]) -> None:
    # llama.cpp's logits depend slightly on what the KV cache held before (prefix reuse changes the
    # batches), so each seeded request follows the same other request on the same single slot.
    async with serving(backends, slots=1) as (_, url), client(url) as c:
        texts = []
        for _ in range(2):
            await c.completions.create(model=NAME, prompt="Reset the cache.", max_tokens=1, temperature=0)
            r = await c.completions.create(model=NAME, prompt="Once upon a time", max_tokens=10, temperature=1.0,
                                           seed=1234, presence_penalty=0.5, frequency_penalty=0.5)
            texts.append(r.choices[0].text)
    assert texts[0] and texts[0] == texts[1]


async def test_stream_invariants_and_usage(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        stream = await c.chat.completions.create(
            model=NAME, messages=MSG, max_tokens=12, stream=True, stream_options={"include_usage": True})
        chunks = [ch async for ch in stream]
    assert len({ch.id for ch in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(ch.choices[0].delta.role is None for ch in chunks[1:] if ch.choices)
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert len(finishes) == 1 and finishes[0] in ("stop", "length")
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    deltas = [ch for ch in chunks if ch.choices and ch.choices[0].delta.content]
    assert 0 < len(deltas) <= last.usage.completion_tokens <= 12


async def test_stop_sequence_on_text_completion(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        plain = await c.completions.create(model=NAME, prompt=COUNT, max_tokens=12, temperature=0)
        assert plain.choices[0].text.startswith(" 6, 7, 8")
        r = await c.completions.create(model=NAME, prompt=COUNT, max_tokens=12, temperature=0, stop=[" 8", "zz"])
    assert r.choices[0].text == " 6, 7,"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and r.usage.completion_tokens < 12


async def test_json_schema_response_format_is_enforced(served: tuple[AgentServer, str]) -> None:
    _, url = served
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    async with client(url) as c:
        r = await c.chat.completions.create(
            model=NAME, messages=MSG, max_tokens=24, temperature=0,
            response_format={"type": "json_schema", "json_schema": {"name": "t", "schema": schema}})
    assert isinstance(json.loads(r.choices[0].message.content or "")["ok"], bool)


async def test_logprobs(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        r = await c.completions.create(model=NAME, prompt=COUNT, max_tokens=4, temperature=0, logprobs=3)
        lp = r.choices[0].logprobs
        assert lp is not None and lp.tokens and lp.token_logprobs and lp.top_logprobs
        assert "".join(lp.tokens) == r.choices[0].text
        for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True):
            assert logprob <= 0.0
            assert len(top) == 3 and max(top, key=top.__getitem__) == token  # greedy takes the likeliest
        chat = await c.chat.completions.create(
            model=NAME, messages=MSG, max_tokens=4, logprobs=True, top_logprobs=2, stream=True)
        entries = [e async for ch in chat if ch.choices and ch.choices[0].logprobs
                   for e in ch.choices[0].logprobs.content or []]
        assert 0 < len(entries) <= 4
        assert all(e.logprob <= 0.0 and len(e.top_logprobs) == 2 for e in entries)


async def collect_stream(c: openai.AsyncOpenAI, prompt: str = COUNT) -> tuple[str, list[str]]:
    stream = await c.completions.create(model=NAME, prompt=prompt, max_tokens=10, temperature=0, stream=True)
    text, reasons = "", []
    async for ch in stream:
        text += ch.choices[0].text
        if ch.choices[0].finish_reason:
            reasons.append(ch.choices[0].finish_reason)
    return text, reasons


@pytest.mark.parametrize("slots", [2, 1])
async def test_two_concurrent_streams_both_complete(backends: list[LlamaBackend], slots: int) -> None:
    async with serving(backends, slots=slots) as (_, url), client(url) as c:
        (a, ra), (b, rb) = await asyncio.gather(collect_stream(c), collect_stream(c))
    assert ra == rb == ["length"]
    assert a.startswith(" 6, 7") and a == b  # greedy: neither stream disturbed the other


async def test_queue_full_is_429_with_retry_after(backends: list[LlamaBackend]) -> None:
    async with serving(backends, slots=1, queue_limit=0) as (server, url), client(url) as c:
        first = asyncio.create_task(collect_stream(c))
        await eventually(lambda: server.load()[0].busy == 1)
        with pytest.raises(openai.RateLimitError) as exc:
            await c.completions.create(model=NAME, prompt="x", max_tokens=1)
        assert int(exc.value.response.headers["retry-after"]) >= 1
        assert (await first)[1] == ["length"]


async def test_disconnect_frees_the_slot_within_a_few_tokens(backends: list[LlamaBackend]) -> None:
    backend = backends[0]
    async with serving(backends, slots=1, queue_limit=0) as (server, url), client(url) as c:
        stream = await c.completions.create(model=NAME, prompt=COUNT, max_tokens=24, temperature=0, stream=True)
        got = 0
        async for _ in stream:
            got += 1
            if got == 2:
                break
        await stream.close()
        await eventually(lambda: server.load()[0].busy == 0)
        prompt_tokens = 1 + len(backend._llama.tokenize(COUNT.encode(), add_bos=False))
        assert backend.n_past < prompt_tokens + 24  # stopped well before its 24 tokens
        assert 'status="499"} 1' in server.metrics.render(server.load())
        r = await c.completions.create(model=NAME, prompt="x", max_tokens=1)  # queue_limit=0: only a free slot serves
        assert r.choices[0].finish_reason == "length"


async def test_error_cases(backends: list[LlamaBackend]) -> None:
    async with serving(backends, slots=1, api_key="sk-test") as (_, url):
        async with client(url, api_key="sk-test") as c:
            with pytest.raises(openai.NotFoundError) as nf:
                await c.chat.completions.create(model="other-model", messages=MSG)
            assert nf.value.code == "model_not_found"
            with pytest.raises(openai.BadRequestError) as br:
                await c.chat.completions.create(model=NAME, messages=MSG, top_p=3)
            assert br.value.param == "top_p"
            with pytest.raises(openai.BadRequestError) as br:
                await c.chat.completions.create(model=NAME, messages=MSG, n=2)
            assert br.value.param == "n"
            with pytest.raises(openai.BadRequestError) as br:
                await c.chat.completions.create(
                    model=NAME, messages=[{"role": "user", "content": "word " * 600}], stream=True)
            assert br.value.code == "context_length_exceeded"
        async with client(url, api_key="sk-wrong") as c:
            with pytest.raises(openai.AuthenticationError):
                await c.chat.completions.create(model=NAME, messages=MSG)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            body = {"model": NAME, "messages": [{"role": "user", "content": "x" * 70_000}]}
            async with http.post(f"{url}/chat/completions", json=body,
                                 headers={"Authorization": "Bearer sk-test"}) as resp:
                assert resp.status == 413


def numbers_filling(backend: LlamaBackend, room: int) -> str:
    """A counting prompt that leaves about `room` tokens of the window (the model counts on greedily)."""
    text = ""
    for i in range(1, 1000):
        longer = f"{text} {i}," if text else f"{i},"
        if backend.count_tokens(longer) > N_CTX - room:
            return text
        text = longer
    raise AssertionError("the window is larger than expected")


async def test_window_limits(served: tuple[AgentServer, str], backends: list[LlamaBackend]) -> None:
    _, url = served
    long_text = "word " * 600
    async with client(url) as c:
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as exc:
                await c.chat.completions.create(
                    model=NAME, messages=[{"role": "user", "content": long_text}], max_tokens=4, stream=stream)
            assert (exc.value.code, exc.value.param) == ("context_length_exceeded", "messages")
            with pytest.raises(openai.BadRequestError) as exc:
                await c.completions.create(model=NAME, prompt=long_text, max_tokens=4, stream=stream)
            assert (exc.value.code, exc.value.param) == ("context_length_exceeded", "prompt")
        # A prompt that fits, asking for more than the window leaves: the generation stops at the window.
        prompt = numbers_filling(backends[0], room=8)
        r = await c.completions.create(model=NAME, prompt=prompt, max_tokens=100, temperature=0)
        assert r.choices[0].finish_reason == "length"
        assert r.usage is not None and r.usage.total_tokens == N_CTX
        stream_ = await c.completions.create(model=NAME, prompt=prompt, max_tokens=100, temperature=0, stream=True,
                                             stream_options={"include_usage": True})
        chunks = [ch async for ch in stream_]
        assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason] == [
            "length"]
        assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == N_CTX


async def raw_stream(url: str, body: dict[str, object]) -> list[str]:
    """The `data:` payloads of a stream, `[DONE]` included, as sent."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        async with http.post(url, json=body) as resp:
            assert resp.status == 200
            text = await resp.text()
    assert text.endswith("data: [DONE]\n\n")
    return [e.removeprefix("data: ") for e in text.split("\n\n") if e]


def check_invariants(events: list[str], *, chat: bool) -> tuple[str, str, dict[str, int]]:
    """The stream's text, finish_reason and usage, after checking OpenAI's stream invariants."""
    assert events[-1] == "[DONE]" and events.count("[DONE]") == 1
    chunks = [json.loads(e) for e in events[:-1]]
    assert len({ch["id"] for ch in chunks}) == 1
    *body, usage = chunks
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] > 0
    assert all(ch["choices"] and ch.get("usage") is None for ch in body)
    finishes = [ch["choices"][0]["finish_reason"] for ch in body if ch["choices"][0]["finish_reason"]]
    assert len(finishes) == 1 and body[-1]["choices"][0]["finish_reason"] == finishes[0]
    if chat:
        assert body[0]["choices"][0]["delta"]["role"] == "assistant"
        assert all("role" not in ch["choices"][0]["delta"] for ch in body[1:])
        text = "".join(ch["choices"][0]["delta"].get("content") or "" for ch in body)
    else:
        text = "".join(ch["choices"][0]["text"] for ch in body)
    return text, finishes[0], usage["usage"]


async def test_stream_invariants_under_stop_and_max_tokens(served: tuple[AgentServer, str]) -> None:
    _, url = served
    usage_on = {"stream": True, "stream_options": {"include_usage": True}, "temperature": 0}
    text, reason, usage = check_invariants(await raw_stream(f"{url}/completions", {
        "model": NAME, "prompt": COUNT, "max_tokens": 12, "stop": [" 8"], **usage_on}), chat=False)
    assert (text, reason) == (" 6, 7,", "stop") and usage["completion_tokens"] < 12
    text, reason, usage = check_invariants(await raw_stream(f"{url}/completions", {
        "model": NAME, "prompt": COUNT, "max_tokens": 3, **usage_on}), chat=False)
    assert (text, reason, usage["completion_tokens"]) == (" 6,", "length", 3)
    text, reason, usage = check_invariants(await raw_stream(f"{url}/chat/completions", {
        "model": NAME, "messages": MSG, "max_tokens": 3, **usage_on}), chat=True)
    assert reason == "length" and usage["completion_tokens"] == 3 and text


async def test_sampling_parameters_are_honoured(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        async def text(**kw: Any) -> str:
            r = await c.completions.create(model=NAME, prompt="The cat sat on the", max_tokens=12, **kw)
            return r.choices[0].text
        greedy = await text(temperature=0)
        # Penalties apply before the greedy pick: the repeated words get penalised away.
        assert await text(temperature=0, frequency_penalty=2.0) != greedy
        assert await text(temperature=0, presence_penalty=2.0) != greedy
        # top_p=0 keeps only the likeliest token, whatever the temperature and seed.
        assert {await text(temperature=2.0, top_p=0.0, seed=s) for s in (1, 2)} == {greedy}


async def test_json_schema_output_matches_the_schema(served: tuple[AgentServer, str]) -> None:
    _, url = served
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "color": {"enum": ["red", "green"]},
                       "name": {"type": "string", "maxLength": 6}},
        "required": ["ok", "color", "name"],
        "additionalProperties": False,
    }
    msgs = [{"role": "user", "content": "Describe a ball as JSON."}]

    def fmt(s: dict[str, Any]) -> Any:
        return {"type": "json_schema", "json_schema": {"name": "ball", "schema": s}}

    async with client(url) as c:
        r = await c.chat.completions.create(model=NAME, messages=msgs, max_tokens=48, temperature=0,
                                            response_format=fmt(schema))
        assert r.choices[0].finish_reason == "stop"
        answer = json.loads(r.choices[0].message.content or "")
        assert set(answer) == {"ok", "color", "name"}
        assert isinstance(answer["ok"], bool) and answer["color"] in ("red", "green")
        assert isinstance(answer["name"], str) and len(answer["name"]) <= 6
        # A keyword the grammar would silently ignore is refused, never dropped.
        schema["properties"]["size"] = {"type": "integer", "maximum": 9}
        with pytest.raises(openai.BadRequestError) as exc:
            await c.chat.completions.create(model=NAME, messages=msgs, max_tokens=4, response_format=fmt(schema))
        assert exc.value.param == "response_format.json_schema.schema" and "maximum" in exc.value.message
