"""Slots, queueing, disconnects and the control-plane hooks, end to end over HTTP (fake backend)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import aiohttp
import openai
import pytest

from shareai.agent.backends.base import Backend, Delta, Event, Finish, GenParams, Usage
from shareai.agent.backends.fake import FakeBackend
from shareai.agent.slots import ModelPool
from shareai.wire.validation import ChatMessage
from tests.agent.helpers import client, eventually, pool_of, running

MSG = [{"role": "user", "content": "hi"}]


def slow(**kw: object) -> Callable[[], FakeBackend]:
    return lambda: FakeBackend(token_delay_s=0.01, **kw)


async def stream_text(c: openai.AsyncOpenAI, max_tokens: int = 8) -> tuple[str, list[str | None]]:
    stream = await c.chat.completions.create(model="m", messages=MSG, stream=True, max_tokens=max_tokens)
    text, reasons = "", []
    async for ch in stream:
        text += ch.choices[0].delta.content or ""
        reasons.append(ch.choices[0].finish_reason)
    return text, [r for r in reasons if r]


@pytest.mark.parametrize("slots", [1, 2])
async def test_two_concurrent_streams_both_complete(slots: int) -> None:
    async with running([pool_of("m", slow(repeat=True), slots=slots)]) as (_server, url), client(url) as c:
        results = await asyncio.gather(stream_text(c), stream_text(c))
    for text, reasons in results:
        assert len(text.split()) == 8
        assert reasons == ["length"]


async def test_queue_full_is_429_with_retry_after() -> None:
    async with running([pool_of("m", slow(repeat=True), queue_limit=0)]) as (server, url), client(url) as c:
        first = asyncio.create_task(stream_text(c, max_tokens=30))
        await eventually(lambda: server.load()[0].busy == 1)
        with pytest.raises(openai.RateLimitError) as exc:
            await c.chat.completions.create(model="m", messages=MSG)
        assert exc.value.response.headers["retry-after"] == "1"
        assert exc.value.code == "rate_limit_exceeded"
        _text, reasons = await first
        assert reasons == ["length"]  # the running stream was never cut off


async def test_disconnecting_client_frees_its_slot() -> None:
    async with running([pool_of("m", slow(repeat=True), queue_limit=0)]) as (server, url), client(url) as c:
        stream = await c.chat.completions.create(model="m", messages=MSG, stream=True)
        got = 0
        async for _ in stream:
            got += 1
            if got == 3:
                break
        await stream.close()
        await eventually(lambda: server.load()[0].busy == 0 and server.inflight == 0)
        # The slot is really free: with queue_limit=0 a busy slot would answer 429.
        r = await c.chat.completions.create(model="m", messages=MSG, max_tokens=2)
        assert r.choices[0].finish_reason == "length"
        assert 'status="499"} 1' in server.metrics.render(server.load())


async def test_not_accepting_turns_new_work_away_while_inflight_finishes() -> None:
    async with running([pool_of("m", slow(repeat=True))]) as (server, url), client(url) as c:
        first = asyncio.create_task(stream_text(c, max_tokens=20))
        await eventually(lambda: server.inflight == 1)
        server.set_accepting(False)
        with pytest.raises(openai.InternalServerError) as exc:
            await c.chat.completions.create(model="m", messages=MSG)
        assert exc.value.status_code == 503 and exc.value.code == "node_unavailable"
        assert await server.wait_idle(10.0)
        assert (await first)[1] == ["length"]
        assert server.inflight == 0
        server.set_accepting(True)
        await c.chat.completions.create(model="m", messages=MSG, max_tokens=1)


async def test_wait_idle_times_out_and_cancel_all_ends_streams_with_an_error_event() -> None:
    async with running([pool_of("m", slow(repeat=True), slots=2)]) as (server, url):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            body = {"model": "m", "messages": MSG, "stream": True}
            async with http.post(f"{url}/chat/completions", json=body) as resp:
                assert resp.status == 200
                await resp.content.readuntil(b"\n\n")
                blocking = asyncio.create_task(plain_request(url))
                await eventually(lambda: server.inflight == 2)
                assert not await server.wait_idle(0.05)
                server.cancel_all()
                rest = (await resp.read()).decode()
        assert '"code":"node_unavailable"' in rest
        assert "[DONE]" not in rest
        with pytest.raises(openai.InternalServerError):
            await blocking
        assert await server.wait_idle(10.0)
        assert server.load()[0].busy == 0


async def plain_request(url: str) -> None:
    async with client(url) as c:
        await c.chat.completions.create(model="m", messages=MSG)


class Gated(Backend):
    """Produces a token only when the test grants one, so "how many tokens after the client left"
    does not depend on timing: with no grant pending, only noticing the disconnect can end it."""

    def __init__(self) -> None:
        self.grants = threading.Semaphore(0)
        self.produced: list[int] = []  # tokens of each finished generation

    @property
    def n_ctx(self) -> int:
        return 512

    def count_tokens(self, text: str) -> int:
        return 1

    def chat(self, messages: list[ChatMessage], params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        n = 0
        while not cancel.is_set():
            if self.grants.acquire(timeout=0.005):
                n += 1
                yield Delta(f" t{n}")
        self.produced.append(n)
        yield Finish("cancelled", Usage(1, n))

    def complete(self, prompt: str, params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        return self.chat([], params, cancel)


async def test_disconnect_mid_stream_is_noticed_without_another_token() -> None:
    backend = Gated()
    async with running([ModelPool("m", [backend], queue_limit=0)]) as (server, url), client(url) as c:
        backend.grants.release(2)
        stream = await c.chat.completions.create(model="m", messages=MSG, stream=True)
        text = ""
        async for ch in stream:
            text += ch.choices[0].delta.content or ""
            if text == " t1 t2":
                break
        await stream.close()
        await eventually(lambda: server.load()[0].busy == 0 and server.inflight == 0)
        assert backend.produced == [2]  # stopped with no token after the client left
        assert 'status="499"} 1' in server.metrics.render(server.load())


async def test_client_leaving_while_queued_leaves_the_queue() -> None:
    backend = FakeBackend(repeat=True, token_delay_s=0.01)  # runs until the window (~20 s) or cancel
    async with running([ModelPool("m", [backend], queue_limit=2)]) as (server, url), client(url) as c:
        first = await c.chat.completions.create(model="m", messages=MSG, stream=True)
        await anext(aiter(first))
        queued = asyncio.create_task(c.chat.completions.create(model="m", messages=MSG, max_tokens=1))
        await eventually(lambda: server.load()[0].queue_depth == 1)
        queued.cancel()  # the SDK drops its connection
        await eventually(lambda: server.load()[0].queue_depth == 0)
        assert server.load()[0].busy == 1 and server.inflight == 1  # while the first still runs
        await first.close()
        await eventually(lambda: server.inflight == 0)
        assert backend.generations == 1  # no generation ever ran for the queued request
        assert 'status="499"} 2' in server.metrics.render(server.load())


async def test_queued_stream_cancelled_by_the_node_gets_a_503_status_not_an_sse_error() -> None:
    # No byte has gone out yet: a real status lets the gateway fail over to another target.
    async with running([pool_of("m", slow(repeat=True))]) as (server, url), client(url) as c:
        first = await c.chat.completions.create(model="m", messages=MSG, stream=True)
        await anext(aiter(first))
        queued = asyncio.create_task(c.chat.completions.create(model="m", messages=MSG, stream=True))
        await eventually(lambda: server.load()[0].queue_depth == 1)
        server.cancel_all()
        with pytest.raises(openai.InternalServerError) as exc:
            await queued
        assert exc.value.status_code == 503 and exc.value.code == "node_unavailable"
        with pytest.raises(openai.APIError):
            async for _ in first:  # the running stream ends with an error event
                pass
