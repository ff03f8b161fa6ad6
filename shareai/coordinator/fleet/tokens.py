"""Enrollment tokens: created by the admin, shown once, stored as a hash, expiring, N-use.

    info = await tokens.create(org="acme", ttl_s=3600, uses=1, actor="admin")
    info.token        # "enr_..." — only in this return value, never stored or logged

Consumption happens inside the enrollment transaction (`consume`), so two agents racing with a
single-use token cannot both get in. Deleting an org revokes its tokens (`revoke_org`).
"""

from __future__ import annotations

import builtins
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

from shareai.coordinator.fleet.errors import EnrollmentRefused
from shareai.coordinator.store.db import Database
from shareai.wire.tokens import hash_secret, new_secret

TOKEN_PREFIX = "enr_"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: str
    org: str
    created_at: float
    expires_at: float
    uses_total: int
    uses_left: int
    token: str | None = None  # the plaintext, only on creation
    revoked_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "org": self.org, "created_at": self.created_at, "expires_at": self.expires_at,
            "uses_total": self.uses_total, "uses_left": self.uses_left, "revoked_at": self.revoked_at,
        }
        if self.token is not None:
            out["token"] = self.token
        return out


def token_state(uses_left: int, expires_at: float, now: float, revoked_at: float | None = None) -> str:
    """"active", "revoked", "expired" or "used" — pure, for listings and for refusal messages."""
    if revoked_at is not None:
        return "revoked"
    if uses_left <= 0:
        return "used"
    if now >= expires_at:
        return "expired"
    return "active"


def consume(conn: sqlite3.Connection, token: str, now: float) -> str:
    """Use one use of `token` inside the caller's transaction; returns its org."""
    row = conn.execute(
        "SELECT id, org, expires_at, uses_left, revoked_at FROM fleet_tokens WHERE token_hash = ?",
        (hash_secret(token),),
    ).fetchone()
    if row is None:
        raise EnrollmentRefused("enrollment token is unknown")
    state = token_state(row["uses_left"], row["expires_at"], now, row["revoked_at"])
    if state == "revoked":
        raise EnrollmentRefused("enrollment token has been revoked (its org was deleted)")
    if state == "used":
        raise EnrollmentRefused("enrollment token has already been used")
    if state == "expired":
        raise EnrollmentRefused("enrollment token has expired")
    conn.execute("UPDATE fleet_tokens SET uses_left = uses_left - 1 WHERE id = ?", (row["id"],))
    return str(row["org"])


class TokenStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, *, org: str, ttl_s: float, uses: int, actor: str, now: float) -> TokenInfo:
        if not org:
            raise ValueError("org must not be empty")
        if ttl_s <= 0:
            raise ValueError("ttl must be positive")
        if uses < 1:
            raise ValueError("uses must be >= 1")
        token = new_secret(TOKEN_PREFIX)
        info = TokenInfo(id="tok_" + secrets.token_hex(6), org=org, created_at=now, expires_at=now + ttl_s,
                         uses_total=uses, uses_left=uses, token=token)
        await self._db.execute(
            "INSERT INTO fleet_tokens (id, token_hash, org, created_at, expires_at, uses_total, uses_left, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (info.id, hash_secret(token), org, now, info.expires_at, uses, uses, actor),
        )
        return info

    async def list(self) -> list[TokenInfo]:
        rows = await self._db.fetchall(
            "SELECT id, org, created_at, expires_at, uses_total, uses_left, revoked_at FROM fleet_tokens"
            " ORDER BY created_at"
        )
        return [TokenInfo(r["id"], r["org"], r["created_at"], r["expires_at"], r["uses_total"], r["uses_left"],
                          revoked_at=r["revoked_at"]) for r in rows]

    async def revoke_org(self, org: str, now: float) -> builtins.list[str]:  # `list` is a method here
        """Revoke every not yet revoked token of `org` (whatever its uses or expiry); their ids."""

        def tx(conn: sqlite3.Connection) -> builtins.list[str]:
            ids = [str(r["id"]) for r in conn.execute(
                "SELECT id FROM fleet_tokens WHERE org = ? AND revoked_at IS NULL ORDER BY created_at", (org,))]
            conn.execute("UPDATE fleet_tokens SET revoked_at = ? WHERE org = ? AND revoked_at IS NULL", (now, org))
            return ids

        return await self._db.run(tx)
