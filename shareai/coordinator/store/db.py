"""SQLite behind one worker thread, so the event loop never waits on disk.

    db = await Database.open(data_dir / "coordinator.db", [FLEET_SCHEMA, GOVERNANCE_SCHEMA])
    rows = await db.fetchall("SELECT id, name FROM nodes WHERE org = ?", (org,))
    await db.run(lambda conn: conn.executemany("INSERT ...", batch))
    await db.close()

All statements run on the single thread that owns the connection, in order; each `run` is one
transaction (committed on success, rolled back on error).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Schema:
    """A subsystem's tables. `statements` are applied once per `version` (bump it to migrate:
    statements of newer versions run in order on an older database)."""

    component: str
    migrations: tuple[tuple[int, tuple[str, ...]], ...]


class Database:
    def __init__(self, path: Path | str, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self.path = Path(path)
        self._conn = conn
        self._executor = executor
        self._closed = False

    @classmethod
    async def open(cls, path: Path | str, schemas: Iterable[Schema] = ()) -> Database:
        path = Path(path)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shareai-db")
        loop = asyncio.get_running_loop()

        def connect() -> sqlite3.Connection:
            if str(path) != ":memory:":
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
                os.close(fd)
                os.chmod(path, 0o600)
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            return conn

        conn = await loop.run_in_executor(executor, connect)
        db = cls(path, conn, executor)
        for schema in schemas:
            await db.apply(schema)
        return db

    async def apply(self, schema: Schema) -> None:
        def migrate(conn: sqlite3.Connection) -> None:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            row = conn.execute(
                "SELECT version FROM schema_versions WHERE component = ?", (schema.component,)
            ).fetchone()
            current = row[0] if row else 0
            for version, statements in sorted(schema.migrations):
                if version <= current:
                    continue
                for stmt in statements:
                    conn.execute(stmt)
                conn.execute(
                    "INSERT INTO schema_versions (component, version) VALUES (?, ?) "
                    "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
                    (schema.component, version),
                )

        await self.run(migrate)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` on the database thread as one transaction."""
        if self._closed:
            raise RuntimeError("database is closed")

        def tx() -> T:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return result

        return await asyncio.get_running_loop().run_in_executor(self._executor, tx)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows changed."""
        return await self.run(lambda conn: conn.execute(sql, params).rowcount)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return await self.run(lambda conn: conn.execute(sql, params).fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        return await self.run(lambda conn: conn.execute(sql, params).fetchone())

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._conn.close)
        self._executor.shutdown(wait=True)
