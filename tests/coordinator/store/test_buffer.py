from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from shareai.coordinator.store.buffer import BatchWriter
from shareai.coordinator.store.db import Database, Schema

SCHEMA = Schema("nums", ((1, ("CREATE TABLE nums (n INTEGER NOT NULL)",)),))


def insert(conn: sqlite3.Connection, batch: Sequence[int]) -> None:
    conn.executemany("INSERT INTO nums (n) VALUES (?)", [(n,) for n in batch])


async def count(db: Database) -> int:
    row = await db.fetchone("SELECT COUNT(*) FROM nums")
    assert row is not None
    return int(row[0])


async def eventually(cond: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    """Poll until `cond()` holds. The deadline only bounds a hang (generous for a loaded CI machine);
    the writer's own timer is what the test exercises, so nothing here but a flush can satisfy it."""
    async with asyncio.timeout(timeout_s):
        while not await cond():  # noqa: ASYNC110 - polling the database and a counter: no event to wait on
            await asyncio.sleep(0.02)


async def test_flushes_within_interval_and_drains_on_close(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "b.db", [SCHEMA])
    writer: BatchWriter[int] = BatchWriter(db, insert, name="t", interval_s=0.05, max_batch=1000)
    writer.start()
    for i in range(10):
        writer.put(i)

    async def flushed() -> bool:
        return await count(db) == 10

    await eventually(flushed)  # written by the timer alone: nothing here calls flush() or close()
    assert await count(db) == 10 and writer.pending == 0
    for i in range(2500):  # more than one batch, still pending at close
        writer.put(i)
    await writer.close()
    assert await count(db) == 2510 and writer.pending == 0
    await db.close()


async def test_failed_flush_keeps_records_for_retry(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "b.db", [SCHEMA])
    fail = {"on": True}

    def flaky(conn: sqlite3.Connection, batch: Sequence[int]) -> None:
        if fail["on"]:
            raise sqlite3.OperationalError("disk I/O error")
        insert(conn, batch)

    writer: BatchWriter[int] = BatchWriter(db, flaky, name="t", interval_s=0.02)
    writer.start()
    writer.put(1)
    writer.put(2)

    async def failed() -> bool:
        return writer.failures >= 1

    await eventually(failed)
    assert writer.failures >= 1 and writer.pending == 2
    fail["on"] = False
    await writer.close()
    assert await count(db) == 2
    await db.close()


async def _numbers(db: Database) -> list[int]:
    return sorted(int(r[0]) for r in await db.fetchall("SELECT n FROM nums"))


async def test_concurrent_flushes_write_each_record_exactly_once(tmp_path: Path) -> None:
    # Readers (usage report, audit list) flush before they read while the timer flushes too.
    db = await Database.open(tmp_path / "b.db", [SCHEMA])
    writer: BatchWriter[int] = BatchWriter(db, insert, name="t", interval_s=0.001, max_batch=7)
    writer.start()
    for i in range(200):
        writer.put(i)
    await asyncio.gather(writer.flush(), writer.flush(), writer.flush())
    assert await _numbers(db) == list(range(200)) and writer.pending == 0

    async def produce() -> None:
        for i in range(200, 600):
            writer.put(i)
            if i % 3 == 0:
                await asyncio.sleep(0)

    async def read() -> None:
        for _ in range(40):
            await writer.flush()

    await asyncio.gather(produce(), read(), read())
    await writer.close()
    assert await _numbers(db) == list(range(600))
    assert writer.flushed == writer.accepted == 600
    await db.close()


async def test_a_flush_cancelled_mid_write_still_writes_its_batch_once(tmp_path: Path) -> None:
    # A usage report whose client goes away is cancelled while its flush is on the database thread:
    # that write commits, so the batch must not stay pending and be written again.
    db = await Database.open(tmp_path / "b.db", [SCHEMA])
    entered, release = threading.Event(), threading.Event()

    def slow(conn: sqlite3.Connection, batch: Sequence[int]) -> None:
        entered.set()
        release.wait(30)
        insert(conn, batch)

    writer: BatchWriter[int] = BatchWriter(db, slow, name="t", interval_s=3600)
    for i in range(50):
        writer.put(i)
    reader = asyncio.ensure_future(writer.flush())
    await asyncio.to_thread(entered.wait, 30)
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    release.set()
    await writer.close()
    assert await _numbers(db) == list(range(50))
    await db.close()


async def test_flush_writes_what_was_put_before_it_not_what_arrives_during_it(tmp_path: Path) -> None:
    # A reader under steady traffic finishes: it waits for its own records only.
    db = await Database.open(tmp_path / "b.db", [SCHEMA])
    writer: BatchWriter[int] = BatchWriter(db, insert, name="t", interval_s=3600, max_batch=5)
    for i in range(20):
        writer.put(i)
    flushing = asyncio.ensure_future(writer.flush())
    await asyncio.sleep(0)
    for i in range(20, 30):
        writer.put(i)
    await flushing
    assert await _numbers(db) == list(range(20)) and writer.pending == 10
    await writer.close()
    assert await _numbers(db) == list(range(30))
    await db.close()
