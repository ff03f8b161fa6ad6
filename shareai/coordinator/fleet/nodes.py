"""Node identities: who may call the control plane, and what each node last told us.

    store = await NodeStore.open(db)                       # loads every identity into memory
    record, secret, again = await store.enroll(token, name=..., host={...}, node_id=None, now=now)
    store.check(node_id, secret)                           # the interceptor's constant-time check

Identities live in SQLite and in a dict, so the per-call auth check never touches disk. Enrollment
and revocation are written synchronously (they must be durable before we answer); the last
registration and status changes go through a `BatchWriter`, off the heartbeat path, and so does
`last_seen` (`save_seen`, called by the sweep every few seconds rather than per heartbeat), so a
listing after a restart says when each node was really last heard from.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shareai.coordinator.fleet import tokens
from shareai.coordinator.fleet.errors import NodeRevoked, NodeUnknown
from shareai.coordinator.store.buffer import BatchWriter
from shareai.coordinator.store.db import Database
from shareai.wire.tokens import hash_secret, new_secret, verify_secret

NODE_SECRET_PREFIX = "ns_"


@dataclass(slots=True)
class NodeRecord:
    id: str
    name: str
    org: str
    secret_hash: str
    enrolled_at: float
    revoked_at: float | None = None
    host: dict[str, Any] = field(default_factory=dict)
    registration: dict[str, Any] = field(default_factory=dict)
    last_seen: float | None = None
    last_status: str = "offline"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class _Update:
    """A row change queued for the batch writer: the latest state of one node."""

    id: str
    name: str
    host: str
    registration: str
    last_seen: float | None
    last_status: str


@dataclass(frozen=True, slots=True)
class _Seen:
    """Only a newer last-seen time for one node (cheap: no JSON, queued for many nodes at once)."""

    id: str
    last_seen: float


def _write_updates(conn: sqlite3.Connection, updates: Sequence[_Update | _Seen]) -> None:
    full = [(u.name, u.host, u.registration, u.last_seen, u.last_status, u.id) for u in updates
            if isinstance(u, _Update)]
    seen = [(u.last_seen, u.last_seen, u.id) for u in updates if isinstance(u, _Seen)]
    conn.executemany(
        "UPDATE fleet_nodes SET name = ?, host = ?, registration = ?, last_seen = ?, last_status = ? WHERE id = ?",
        full,
    )
    # After the full rows, and never backwards: within a batch a full row may be older or newer.
    conn.executemany("UPDATE fleet_nodes SET last_seen = max(coalesce(last_seen, ?), ?) WHERE id = ?", seen)


def new_node_id() -> str:
    return "node_" + secrets.token_hex(6)


class NodeStore:
    def __init__(self, db: Database, records: dict[str, NodeRecord]) -> None:
        self._db = db
        self._records = records
        self._writer: BatchWriter[_Update | _Seen] = BatchWriter(db, _write_updates, name="fleet-nodes", interval_s=0.5)

    @classmethod
    async def open(cls, db: Database) -> NodeStore:
        rows = await db.fetchall(
            "SELECT id, name, org, secret_hash, enrolled_at, revoked_at, host, registration, last_seen, last_status"
            " FROM fleet_nodes"
        )
        records = {
            r["id"]: NodeRecord(
                id=r["id"], name=r["name"], org=r["org"], secret_hash=r["secret_hash"], enrolled_at=r["enrolled_at"],
                revoked_at=r["revoked_at"], host=json.loads(r["host"]), registration=json.loads(r["registration"]),
                last_seen=r["last_seen"], last_status=r["last_status"],
            )
            for r in rows
        }
        store = cls(db, records)
        store._writer.start()
        return store

    def get(self, node_id: str) -> NodeRecord | None:
        return self._records.get(node_id)

    def require(self, node_id: str) -> NodeRecord:
        record = self._records.get(node_id)
        if record is None:
            raise NodeUnknown(f"no node with id {node_id!r}")
        return record

    def all(self) -> list[NodeRecord]:
        return list(self._records.values())

    def check(self, node_id: str, secret: str) -> NodeRecord | None:
        """The node if `secret` is its secret (constant-time); None otherwise. Revocation is the
        caller's to check, so it can answer PERMISSION_DENIED rather than UNAUTHENTICATED."""
        record = self._records.get(node_id)
        if record is None:
            # Still hash and compare, so unknown ids and wrong secrets take the same time.
            verify_secret(secret, "0" * 64)
            return None
        return record if verify_secret(secret, record.secret_hash) else None

    async def enroll(
        self, token: str, *, name: str, host: dict[str, Any], node_id: str | None, now: float,
        node_secret: str | None = None,
    ) -> tuple[NodeRecord, str, bool]:
        """Consume one use of `token` and issue a node identity; returns (record, secret, re-enrolled).

        A node keeps its id (with a new secret; the old one stops working) only when it proves it
        holds that id: `node_secret` is the id's current secret, the token is of the id's org, and
        the id is not revoked. Anything else (no or a wrong secret, another org, a revoked id) is a
        fresh enrollment under a new id, and the named identity is left exactly as it was: knowing
        a node id and holding a token of its org must not take the node over or lift a revocation.
        """
        secret = new_secret(NODE_SECRET_PREFIX)
        secret_hash = hash_secret(secret)
        host_json = json.dumps(host, sort_keys=True)

        def tx(conn: sqlite3.Connection) -> tuple[str, str, bool, float]:
            org = tokens.consume(conn, token, now)
            existing = None
            if node_id:
                existing = conn.execute(
                    "SELECT id, org, enrolled_at, secret_hash, revoked_at FROM fleet_nodes WHERE id = ?", (node_id,)
                ).fetchone()
            # Always hash and compare, so an unknown id answers in the same time as a wrong secret.
            proven = verify_secret(node_secret or "", existing["secret_hash"] if existing else "0" * 64)
            if existing is not None and proven and existing["org"] == org and existing["revoked_at"] is None:
                conn.execute(
                    "UPDATE fleet_nodes SET name = ?, secret_hash = ?, host = ? WHERE id = ?",
                    (name, secret_hash, host_json, node_id),
                )
                return str(existing["id"]), org, True, float(existing["enrolled_at"])
            new_id = new_node_id()
            conn.execute(
                "INSERT INTO fleet_nodes (id, name, org, secret_hash, enrolled_at, host) VALUES (?, ?, ?, ?, ?, ?)",
                (new_id, name, org, secret_hash, now, host_json),
            )
            return new_id, org, False, now

        nid, org, again, enrolled_at = await self._db.run(tx)
        previous = self._records.get(nid)
        record = NodeRecord(
            id=nid, name=name, org=org, secret_hash=secret_hash, enrolled_at=enrolled_at, host=host,
            registration=previous.registration if previous else {},
            last_seen=previous.last_seen if previous else None,
        )
        self._records[nid] = record
        return record, secret, again

    async def revoke(self, node_id: str, now: float) -> NodeRecord:
        record = self.require(node_id)
        if record.revoked:
            raise NodeRevoked(f"node {node_id} is already revoked")
        await self._db.execute(
            "UPDATE fleet_nodes SET revoked_at = ?, last_status = 'revoked' WHERE id = ?", (now, node_id)
        )
        record.revoked_at = now
        record.last_status = "revoked"
        return record

    async def revoke_org(self, org: str, now: float) -> list[NodeRecord]:
        """Revoke every node of `org` that is not revoked yet; the records revoked.

        Memory first, before anything awaits: the interceptor refuses their next call at once."""
        records = [r for r in self._records.values() if r.org == org and not r.revoked]
        for record in records:
            record.revoked_at = now
            record.last_status = "revoked"
        if records:
            await self._db.execute(
                "UPDATE fleet_nodes SET revoked_at = ?, last_status = 'revoked' WHERE org = ? AND revoked_at IS NULL",
                (now, org),
            )
        return records

    def save_state(self, record: NodeRecord) -> None:
        """Queue the record's registration, last-seen and status for the next batch write."""
        self._writer.put(_Update(
            id=record.id, name=record.name, host=json.dumps(record.host, sort_keys=True),
            registration=json.dumps(record.registration, sort_keys=True),
            last_seen=record.last_seen, last_status=record.last_status,
        ))

    def save_seen(self, node_id: str, last_seen: float) -> None:
        """Queue a newer last-seen time for one node (the sweep batches these)."""
        self._writer.put(_Seen(node_id, last_seen))

    async def flush(self) -> None:
        await self._writer.flush()

    async def close(self) -> None:
        await self._writer.close()
