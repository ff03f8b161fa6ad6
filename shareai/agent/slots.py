"""Per-model slot pools: N backend instances, a bounded FIFO queue in front, one thread per slot.

A `Llama` object runs one generation at a time, so a model with `slots=N` holds N instances.
A request takes a free slot, or waits in a FIFO queue of at most `queue_limit`; past that it gets
`RateLimited` (429 with `retry-after`) at once rather than waiting without bound. A freed slot is
handed straight to the oldest waiter, so a new arrival never jumps the queue and a running
generation is never cut off by a second request.

The blocking generation runs on the slot's own thread; its events cross to the event loop through
an asyncio queue. Leaving `generate()` early (client gone, error, `cancel_all`) sets the cancel flag,
which the backend checks between tokens; the slot is released only when its thread has actually
stopped, so `load()` never reports a slot free while llama.cpp is still using it::

    async with contextlib.aclosing(pool.generate(lambda b, c: b.chat(msgs, params, c), cancel)) as events:
        async for event in events: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from shareai.agent.backends.base import Backend, Event
from shareai.agent.config import BUNDLED, ModelSpec
from shareai.wire.errors import RateLimited

log = logging.getLogger(__name__)

Work = Callable[[Backend, threading.Event], Iterator[Event]]
T = TypeVar("T")


@dataclass(slots=True, frozen=True)
class ModelLoad:
    """A snapshot of one model's capacity, for heartbeats and `/metrics`."""

    name: str
    slots: int
    busy: int
    free: int
    queue_depth: int
    queue_limit: int
    n_ctx: int


class _Slot:
    def __init__(self, index: int, backend: Backend, pool_name: str) -> None:
        self.index = index
        self.backend = backend
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"slot-{pool_name}-{index}")


class _End:
    """Marks the end of a generation's events on the queue."""


_END = _End()


class ModelPool:
    def __init__(
        self, name: str, backends: Sequence[Backend], *, queue_limit: int = 8, retry_after_s: float = 1.0
    ) -> None:
        if not backends:
            raise ValueError("a model pool needs at least one backend")
        self.name = name
        self.queue_limit = queue_limit
        self.retry_after_s = retry_after_s
        self._slots = [_Slot(i, b, name) for i, b in enumerate(backends)]
        self._free: deque[_Slot] = deque(self._slots)
        self._waiters: deque[asyncio.Future[_Slot]] = deque()

    @property
    def n_ctx(self) -> int:
        return self._slots[0].backend.n_ctx

    @property
    def supports_logprobs(self) -> bool:
        return self._slots[0].backend.supports_logprobs

    @property
    def supports_tools(self) -> bool:
        return self._slots[0].backend.supports_tools

    @property
    def fingerprint(self) -> str:
        return self._slots[0].backend.fingerprint

    @property
    def embeddings(self) -> bool:
        return self._slots[0].backend.embeddings

    @property
    def supports_dimensions(self) -> bool:
        return self._slots[0].backend.supports_dimensions

    @property
    def n_embd(self) -> int:
        return self._slots[0].backend.n_embd

    async def call(self, fn: Callable[[Backend], T]) -> T:
        """`fn(backend)` run on a slot's thread, in turn with generations (same queue, same 429 when
        it is full); for one blocking call such as `embed`, which needs no token stream."""
        slot = await self._acquire()
        try:
            done = asyncio.get_running_loop().run_in_executor(slot.executor, fn, slot.backend)
        except BaseException:
            self._release(slot)
            raise
        # Freed when the thread is done, even if the caller was cancelled meanwhile (registered before
        # the shield's own callback, so the slot is free again by the time the caller resumes).
        done.add_done_callback(lambda _: self._release(slot))
        return await asyncio.shield(done)

    @property
    def slots(self) -> int:
        return len(self._slots)

    @property
    def busy(self) -> int:
        return len(self._slots) - len(self._free)

    @property
    def queue_depth(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    def load(self) -> ModelLoad:
        busy = self.busy
        return ModelLoad(self.name, self.slots, busy, self.slots - busy, self.queue_depth, self.queue_limit, self.n_ctx)

    async def _acquire(self) -> _Slot:
        if self._free and not self.queue_depth:
            return self._free.popleft()
        if self.queue_depth >= self.queue_limit:
            raise RateLimited(
                f"Model '{self.name}' is at capacity ({self.slots} busy slots, {self.queue_depth} queued). "
                "Retry shortly.",
                retry_after=self.retry_after_s,
            )
        waiter: asyncio.Future[_Slot] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(waiter.result())  # handed a slot just as we were cancelled: pass it on
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _release(self, slot: _Slot) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(slot)
                return
        self._free.append(slot)

    async def generate(self, work: Work, cancel: threading.Event) -> AsyncGenerator[Event, None]:
        """The events of `work(backend, cancel)` run on a slot; raises `RateLimited` when the queue is full.

        Errors the work raises (before or during generation) are re-raised here. Close the iterator
        (`contextlib.aclosing`) when leaving early: that sets `cancel` and so frees the slot.
        """
        slot = await self._acquire()
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Event | BaseException | _End] = asyncio.Queue()

        def put(item: Event | BaseException | _End) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening any more
                loop.call_soon_threadsafe(events.put_nowait, item)

        def produce() -> None:
            try:
                for event in work(slot.backend, cancel):
                    put(event)
            except Exception as exc:
                put(exc)
            finally:
                put(_END)

        released = False

        def release(_: object = None) -> None:
            nonlocal released
            if not released:
                released = True
                self._release(slot)

        try:
            done = loop.run_in_executor(slot.executor, produce)
        except BaseException:
            release()
            raise
        done.add_done_callback(release)  # when left early: free the slot once the thread has stopped
        try:
            while True:
                item = await events.get()
                if isinstance(item, _End):
                    # Release here rather than in the (later-scheduled) callback, so a caller that
                    # answers now and sends the next request at once never finds its own slot busy.
                    await done
                    release()
                    return
                if isinstance(item, BaseException):
                    await done  # the thread ends right after its error: same as above
                    release()
                    raise item
                yield item
        finally:
            cancel.set()  # a no-op once finished; otherwise the slot stops within a token

    async def aclose(self, *, close_backends: bool = True) -> None:
        """Stop the slot threads and free the models (unless the caller keeps the backends for
        another pool); call once no generation runs (after `AgentServer.stop()`)."""
        for slot in self._slots:
            if close_backends:
                await asyncio.get_running_loop().run_in_executor(slot.executor, slot.backend.close)
            slot.executor.shutdown(wait=True)


def build_backend(spec: ModelSpec) -> Backend:
    """One slot's backend for `spec` (blocking: loads the model)."""
    if spec.backend == "fake":
        from shareai.agent.backends.fake import FakeBackend

        return FakeBackend(n_ctx=spec.n_ctx, embeddings=spec.embeddings)
    from shareai.agent.backends.llama import LlamaBackend

    if spec.path == BUNDLED:
        from shareai.agent.bundled import BUNDLED_CHAT_FORMAT, bundled_model_path

        path = bundled_model_path()
        chat_format: str | None = spec.chat_format or BUNDLED_CHAT_FORMAT
    else:
        path, chat_format = Path(spec.path).expanduser(), spec.chat_format
    return LlamaBackend.load(path, chat_format=chat_format, n_ctx=spec.n_ctx, n_gpu_layers=spec.n_gpu_layers,
                             embeddings=spec.embeddings)


async def load_pools(specs: Sequence[ModelSpec]) -> list[ModelPool]:
    """A pool per spec, its models loaded off the event loop (one at a time: loading is I/O and
    memory bound, and parallel loads only compete). On failure, what was loaded is freed."""
    pools: list[ModelPool] = []
    try:
        for spec in specs:
            backends: list[Backend] = []
            try:
                for _ in range(spec.slots):
                    backends.append(await asyncio.to_thread(build_backend, spec))
            except BaseException:
                for b in backends:
                    b.close()
                raise
            pools.append(ModelPool(spec.name, backends, queue_limit=spec.queue_limit))
            log.info("model %s ready: %d slot(s), n_ctx=%d", spec.name, spec.slots, pools[-1].n_ctx)
    except BaseException:
        for pool in pools:
            await pool.aclose()
        raise
    return pools
