"""A bounded in-memory buffer that writes records in batches off the request path.

    writer = BatchWriter(db, flush=insert_usage_rows, interval_s=0.5, max_batch=500)
    writer.start()
    writer.put(record)          # never waits on disk
    await writer.close()        # SIGTERM path: everything buffered is written

`put` never blocks: while the buffer holds fewer than `max_pending` records it only appends and
wakes the flusher when a batch is full. Past `max_pending` (the disk cannot keep up) the record is
still kept (nothing is dropped), and `backlogged` tells callers to shed load: the governor refuses
new requests with 503 `accounting_backlog` until the buffer is below the bound again. A failed flush is logged and
retried with the same records on the next tick, so a transient disk error loses nothing.

Flushing is single-flight: the timer, `close` and readers that flush before they read (usage
report, audit list) all go through one lock, so a batch is written exactly once. `flush()` writes
every record put before it was called (not the ones put while it runs, so a reader under steady
traffic is not kept writing forever).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from shareai.coordinator.store.db import Database

R = TypeVar("R")
log = logging.getLogger(__name__)


class BatchWriter(Generic[R]):
    def __init__(
        self,
        db: Database,
        flush: Callable[[sqlite3.Connection, Sequence[R]], None],
        *,
        name: str,
        interval_s: float = 0.5,
        max_batch: int = 1000,
        max_pending: int = 10_000,
    ) -> None:
        self._db = db
        self._flush_fn = flush
        self.name = name
        self.interval_s = interval_s
        self.max_batch = max_batch
        self.max_pending = max_pending
        self._pending: list[R] = []
        self._flush_lock = asyncio.Lock()
        self.accepted = 0  # records put so far; always == flushed + pending
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.flushed = 0
        self.failures = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def backlogged(self) -> bool:
        return len(self._pending) >= self.max_pending

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"batch-writer-{self.name}")

    def put(self, record: R) -> None:
        if self._closing:
            raise RuntimeError(f"{self.name} writer is closed")
        self._pending.append(record)
        self.accepted += 1
        if len(self._pending) >= self.max_batch:
            self._wake.set()

    async def flush(self) -> None:
        """Write every record put before this call (raises if the database refuses them; they stay
        pending). One flush at a time: a caller that finds one running waits for it, then writes
        whatever of its own records is still pending."""
        # Shielded: a reader cancelled mid-write (its client went away) must not abandon a batch
        # the database thread may still commit, or the retry would write it twice.
        task = asyncio.ensure_future(self._flush_until(self.accepted))
        task.add_done_callback(_retrieve)
        await asyncio.shield(task)

    async def _flush_until(self, target: int) -> None:
        async with self._flush_lock:
            # Under the lock nobody else removes from `_pending`, so the batch taken here is the one
            # deleted after the write: no record is written twice or dropped.
            while self.flushed < target:
                batch = self._pending[: min(self.max_batch, target - self.flushed)]
                try:
                    await self._db.run(self._writer_for(batch))
                except Exception:
                    self.failures += 1
                    log.exception("%s: flushing %d records failed; will retry", self.name, len(batch))
                    raise
                del self._pending[: len(batch)]
                self.flushed += len(batch)

    def _writer_for(self, batch: list[R]) -> Callable[[sqlite3.Connection], None]:
        def write(conn: sqlite3.Connection) -> None:
            self._flush_fn(conn, batch)

        return write

    async def _loop(self) -> None:
        # Never cancelled mid-flush (a cancelled `db.run` may still commit on the db thread, and
        # the batch would be written twice): `close` sets `_closing` and wakes the loop instead.
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # logged in flush(); records stay pending for the next tick
                await asyncio.sleep(self.interval_s)

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a shielded flush's error as seen when its caller was cancelled (it is logged above)."""
    if not task.cancelled():
        task.exception()
