from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from shareai.coordinator.store.db import Database, Schema

V1 = Schema("things", ((1, ("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",)),))
V2 = Schema("things", (*V1.migrations, (2, ("ALTER TABLE things ADD COLUMN colour TEXT",))))


async def test_file_is_private_wal_and_migrations_apply_once(tmp_path: Path) -> None:
    path = tmp_path / "state" / "c.db"
    db = await Database.open(path, [V1])
    await db.execute("INSERT INTO things (name) VALUES (?)", ("a",))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"  # type: ignore[index]
    await db.close()

    db = await Database.open(path, [V2])  # v1 is not re-run; v2 adds a column
    await db.execute("UPDATE things SET colour = 'red'")
    rows = await db.fetchall("SELECT name, colour FROM things")
    assert [tuple(r) for r in rows] == [("a", "red")]
    await db.close()


async def test_run_is_one_transaction(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "c.db", [V1])

    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO things (name) VALUES ('x')")
        conn.execute("INSERT INTO things (nope) VALUES ('y')")

    with pytest.raises(sqlite3.OperationalError):
        await db.run(half_then_fail)
    assert await db.fetchall("SELECT * FROM things") == []
    await db.close()
    with pytest.raises(RuntimeError):
        await db.fetchall("SELECT 1")
