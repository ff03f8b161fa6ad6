"""The slot pool alone: FIFO hand-over, bounded queue, cancellation freeing the slot."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import pytest

from shareai.agent.backends.base import Backend, Delta, Event, Finish, GenParams
from shareai.agent.backends.fake import FakeBackend
from shareai.agent.slots import ModelPool, Work
from shareai.wire.errors import ContextLengthExceeded, RateLimited
from tests.agent.helpers import eventually


def text_work(max_tokens: int | None = None, prompt: str = "x") -> Work:
    def work(backend: Backend, cancel: threading.Event) -> Iterator[Event]:
        return backend.complete(prompt, GenParams(max_tokens=max_tokens), cancel)
    return work


async def collect(pool: ModelPool, work: Work, order: list[int] | None = None, tag: int = 0) -> list[Event]:
    out: list[Event] = []
    async with contextlib.aclosing(pool.generate(work, threading.Event())) as events:
        async for ev in events:
            if order is not None and not out:
                order.append(tag)
            out.append(ev)
    return out


async def test_one_slot_serves_queued_requests_in_order() -> None:
    pool = ModelPool("m", [FakeBackend(reply="a b c", token_delay_s=0.01)], queue_limit=4)
    order: list[int] = []
    first = asyncio.create_task(collect(pool, text_work(), order, 0))
    await eventually(lambda: pool.busy == 1)
    rest = [asyncio.create_task(collect(pool, text_work(), order, i)) for i in (1, 2, 3)]
    await eventually(lambda: pool.queue_depth == 3)
    assert pool.load().queue_depth == 3 and pool.load().free == 0
    results = await asyncio.gather(first, *rest)
    assert order == [0, 1, 2, 3]
    for events in results:
        assert isinstance(events[-1], Finish) and events[-1].reason == "stop"
    assert pool.load().busy == 0
    await pool.aclose()


async def test_full_queue_is_rate_limited_with_retry_after() -> None:
    pool = ModelPool("m", [FakeBackend(repeat=True, token_delay_s=0.01)], queue_limit=1)
    running = asyncio.create_task(collect(pool, text_work(50)))
    await eventually(lambda: pool.busy == 1)
    queued = asyncio.create_task(collect(pool, text_work(1)))
    await eventually(lambda: pool.queue_depth == 1)
    with pytest.raises(RateLimited) as exc:
        await collect(pool, text_work(1))
    assert exc.value.headers["retry-after"] == "1"
    await asyncio.gather(running, queued)
    await pool.aclose()


async def test_leaving_early_cancels_and_frees_the_slot() -> None:
    backend = FakeBackend(repeat=True, token_delay_s=0.01)
    pool = ModelPool("m", [backend], queue_limit=0)
    cancel = threading.Event()
    seen = 0
    async with contextlib.aclosing(pool.generate(text_work(), cancel)) as events:
        async for ev in events:
            assert isinstance(ev, Delta)
            seen += 1
            if seen == 3:
                break
    assert cancel.is_set()
    await eventually(lambda: pool.busy == 0)
    # the slot is really free: a new generation gets it without a queue (queue_limit=0 would 429)
    events = await collect(pool, text_work(2))
    assert isinstance(events[-1], Finish) and events[-1].usage.completion_tokens == 2
    await pool.aclose()


async def test_cancelled_waiter_leaves_the_queue() -> None:
    pool = ModelPool("m", [FakeBackend(repeat=True, token_delay_s=0.01)], queue_limit=2)
    running = asyncio.create_task(collect(pool, text_work(20)))
    await eventually(lambda: pool.busy == 1)
    waiter = asyncio.create_task(collect(pool, text_work(1)))
    await eventually(lambda: pool.queue_depth == 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert pool.queue_depth == 0
    await running
    assert pool.busy == 0
    await pool.aclose()


async def test_errors_before_text_are_raised_and_release_the_slot() -> None:
    pool = ModelPool("m", [FakeBackend(n_ctx=4)], queue_limit=0)
    with pytest.raises(ContextLengthExceeded):
        await collect(pool, text_work(prompt="a b c d e f"))
    assert pool.busy == 0
    await pool.aclose()


async def test_slot_is_free_as_soon_as_a_generation_is_consumed() -> None:
    # Back-to-back requests on one slot with no queue must never see their own slot still busy.
    pool = ModelPool("m", [FakeBackend()], queue_limit=0)
    for _ in range(20):
        events = await collect(pool, text_work(2))
        assert isinstance(events[-1], Finish)
        assert pool.busy == 0
    await pool.aclose()
