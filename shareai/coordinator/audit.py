"""The audit log: an append-only record of admin actions and node lifecycle events.

    coord.audit.record(actor="admin", action="token.create", target="org:acme", ttl_s=3600)
    events = await coord.audit.list(since=time.time() - 3600)

Records go through a `BatchWriter` (never blocking the caller) and are flushed before any read, so
`list` always sees everything recorded before it was called (or answers 503 `accounting_backlog`
when the database refuses them: never an incomplete list). The table has no UPDATE or DELETE
path anywhere in the code base: append-only by construction.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from shareai.coordinator.store.buffer import BatchWriter
from shareai.coordinator.store.db import Database, Schema
from shareai.wire.errors import AccountingBacklog

AUDIT_SCHEMA = Schema(
    component="audit",
    migrations=(
        (1, (
            """CREATE TABLE audit_log (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ts REAL NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                details TEXT NOT NULL
            )""",
            "CREATE INDEX audit_log_ts ON audit_log (ts)",
        )),
    ),
)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    ts: float
    actor: str
    action: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"ts": self.ts, "actor": self.actor, "action": self.action, "target": self.target,
                "details": self.details}


def _insert(conn: sqlite3.Connection, events: Sequence[AuditEvent]) -> None:
    conn.executemany(
        "INSERT INTO audit_log (ts, actor, action, target, details) VALUES (?, ?, ?, ?, ?)",
        [(e.ts, e.actor, e.action, e.target, json.dumps(e.details, sort_keys=True)) for e in events],
    )


class AuditLog:
    def __init__(self, db: Database, *, clock: Callable[[], float] = time.time, interval_s: float = 0.5) -> None:
        self._db = db
        self._clock = clock
        self._writer: BatchWriter[AuditEvent] = BatchWriter(db, _insert, name="audit", interval_s=interval_s)

    def start(self) -> None:
        self._writer.start()

    def record(self, *, actor: str, action: str, target: str, **details: Any) -> AuditEvent:
        event = AuditEvent(ts=self._clock(), actor=actor, action=action, target=target, details=details)
        self._writer.put(event)
        return event

    async def list(
        self, *, since: float | None = None, action_prefix: str | None = None, limit: int = 1000,
        newest_first: bool = False,
    ) -> list[AuditEvent]:
        """Events in the order recorded, the first `limit` of them; `newest_first`: the last `limit`,
        newest first (the console's audit page)."""
        try:
            await self._writer.flush()  # the list includes everything recorded before it was asked
        except Exception:  # logged by the writer; the events stay pending for its next attempt
            raise AccountingBacklog("Audit events cannot be written to the database now; the list would be "
                                    "incomplete. Please retry shortly.") from None
        sql = "SELECT ts, actor, action, target, details FROM audit_log WHERE ts >= ?"
        params: list[Any] = [since or 0.0]
        if action_prefix:
            sql += " AND action LIKE ? ESCAPE '\\'"
            params.append(action_prefix.replace("%", r"\%") + "%")
        sql += " ORDER BY id DESC LIMIT ?" if newest_first else " ORDER BY id LIMIT ?"
        params.append(limit)
        rows = await self._db.fetchall(sql, params)
        return [AuditEvent(r["ts"], r["actor"], r["action"], r["target"], json.loads(r["details"])) for r in rows]

    async def close(self) -> None:
        await self._writer.close()
