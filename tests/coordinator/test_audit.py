from __future__ import annotations

from pathlib import Path

from shareai.coordinator.audit import AUDIT_SCHEMA, AuditLog
from shareai.coordinator.store.db import Database


async def test_audit_records_are_listed_in_order_and_survive_reopen(tmp_path: Path) -> None:
    now = [1000.0]
    db = await Database.open(tmp_path / "a.db", [AUDIT_SCHEMA])
    audit = AuditLog(db, clock=lambda: now[0], interval_s=10)  # long interval: list() must flush
    audit.start()
    audit.record(actor="admin", action="token.create", target="org:acme", ttl_s=3600)
    now[0] = 1010.0
    audit.record(actor="node:n1", action="node.registered", target="node:n1")
    events = await audit.list()
    assert [(e.ts, e.actor, e.action, e.details) for e in events] == [
        (1000.0, "admin", "token.create", {"ttl_s": 3600}),
        (1010.0, "node:n1", "node.registered", {}),
    ]
    assert [e.action for e in await audit.list(since=1005)] == ["node.registered"]
    assert [e.action for e in await audit.list(action_prefix="token.")] == ["token.create"]
    await audit.close()
    await db.close()

    db = await Database.open(tmp_path / "a.db", [AUDIT_SCHEMA])
    audit = AuditLog(db)
    assert len(await audit.list()) == 2
    await audit.close()
    await db.close()
