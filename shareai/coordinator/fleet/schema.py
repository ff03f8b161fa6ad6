"""The fleet's tables in the coordinator's SQLite database.

`fleet_tokens` holds enrollment tokens by hash only; `fleet_nodes` holds each node's identity
(secret by hash) and its last registration, so `nodes list` can still describe a node while it is
offline or after a coordinator restart.
"""

from __future__ import annotations

from shareai.coordinator.store.db import Schema

FLEET_SCHEMA = Schema(
    component="fleet",
    migrations=(
        (1, (
            """CREATE TABLE fleet_tokens (
                id TEXT PRIMARY KEY,
                token_hash TEXT NOT NULL UNIQUE,
                org TEXT NOT NULL,
                created_at REAL NOT NULL,
                expires_at REAL NOT NULL,
                uses_total INTEGER NOT NULL,
                uses_left INTEGER NOT NULL,
                created_by TEXT NOT NULL
            )""",
            """CREATE TABLE fleet_nodes (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                org TEXT NOT NULL,
                secret_hash TEXT NOT NULL,
                enrolled_at REAL NOT NULL,
                revoked_at REAL,
                host TEXT NOT NULL DEFAULT '{}',
                registration TEXT NOT NULL DEFAULT '{}',
                last_seen REAL,
                last_status TEXT NOT NULL DEFAULT 'offline'
            )""",
            "CREATE INDEX fleet_nodes_org ON fleet_nodes (org)",
        )),
        # Deleting an org revokes its tokens (kept for the listing, never usable again).
        (2, ("ALTER TABLE fleet_tokens ADD COLUMN revoked_at REAL",)),
    ),
)
