"""Console users and their roles, stored in SQLite and held in memory.

    users = await UserDirectory.load(db, audit, clock)
    user = await users.create("admin", email="ann@acme.test", password="...", role="admin", org="acme")
    user = await users.authenticate("ann@acme.test", "...")   # None on a wrong email or password
    await users.remove("admin", user.id)

Roles (one per user):
    owner    the whole deployment, like the admin key (no org)
    admin    one org: its keys, enrollment tokens, nodes, limits (read), usage and audit
    member   one org: playground, models and the org's usage

Emails are compared lower-cased. Passwords are scrypt hashes (`passwords.py`), computed in a thread.
Every change is audited with its actor.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from shareai.coordinator.console.passwords import check_password, dummy_hash, hash_password, verify_password
from shareai.coordinator.store.db import Database, Schema

ROLES = ("owner", "admin", "member")
_EMAIL = re.compile(r"^[^@\s\"'<>]{1,64}@[A-Za-z0-9.-]{1,190}$")

USERS_SCHEMA = Schema(
    component="console",
    migrations=(
        (1, (
            """CREATE TABLE console_users (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL UNIQUE,
                password_hash TEXT NOT NULL,
                role TEXT NOT NULL,
                org TEXT,
                created_at REAL NOT NULL
            )""",
        )),
    ),
)


class AccountError(ValueError):
    """A refused account change (bad email, role, org, password; duplicate; unknown user)."""

    def __init__(self, message: str, *, param: str | None = None, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class AuditSink(Protocol):
    def record(self, *, actor: str, action: str, target: str, **details: Any) -> Any:
        ...


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    password_hash: str
    role: str
    org: str | None
    created_at: float

    @property
    def actor(self) -> str:
        """How the audit log names this user."""
        return f"user:{self.email}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "role": self.role, "org": self.org,
                "created_at": self.created_at}


def check_email(email: object) -> str:
    if not isinstance(email, str) or not _EMAIL.match(email.strip()):
        raise AccountError("'email' must be an email address.", param="email")
    return email.strip().lower()


def check_role(role: object, org: object) -> tuple[str, str | None]:
    if role not in ROLES:
        raise AccountError(f"'role' must be one of {', '.join(ROLES)}.", param="role")
    if role == "owner":
        if org not in (None, ""):
            raise AccountError("An owner has no org (it sees the whole deployment); drop 'org'.", param="org")
        return "owner", None
    if not isinstance(org, str) or not org:
        raise AccountError(f"A user with role '{role}' needs an 'org'.", param="org")
    return str(role), org


class UserDirectory:
    def __init__(self, db: Database, audit: AuditSink, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._lock = asyncio.Lock()
        self.users: dict[str, User] = {}  # id -> user
        self._by_email: dict[str, str] = {}

    @classmethod
    async def load(cls, db: Database, audit: AuditSink, clock: Callable[[], float] = time.time) -> UserDirectory:
        d = cls(db, audit, clock)
        rows = await db.fetchall("SELECT id, email, password_hash, role, org, created_at FROM console_users")
        for r in rows:
            d._index(User(r["id"], r["email"], r["password_hash"], r["role"], r["org"], r["created_at"]))
        return d

    def _index(self, user: User) -> None:
        self.users[user.id] = user
        self._by_email[user.email] = user.id

    def by_email(self, email: str) -> User | None:
        user_id = self._by_email.get(email.strip().lower())
        return self.users.get(user_id) if user_id else None

    def list(self, org: str | None = None) -> list[User]:
        return sorted((u for u in self.users.values() if org is None or u.org == org), key=lambda u: u.email)

    async def create(self, actor: str, *, email: object, password: str, role: object, org: object,
                     org_exists: Callable[[str], bool]) -> User:
        """`email`, `role` and `org` are checked here (they may come straight from a request body)."""
        email = check_email(email)
        role, org_name = check_role(role, org)
        if org_name is not None and not org_exists(org_name):
            raise AccountError(f"No org named '{org_name}'; create it first.", param="org", code="org_not_found")
        try:
            check_password(password)
        except ValueError as exc:
            raise AccountError(str(exc), param="password", code="weak_password") from None
        password_hash = await asyncio.to_thread(hash_password, password)
        async with self._lock:
            if email in self._by_email:
                raise AccountError(f"A user with email '{email}' exists.", param="email", code="user_exists")
            user = User("usr_" + secrets.token_hex(8), email, password_hash, role, org_name, self._clock())
            await self._db.execute(
                "INSERT INTO console_users (id, email, password_hash, role, org, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (user.id, user.email, user.password_hash, user.role, user.org, user.created_at))
            self._index(user)
        self._audit.record(actor=actor, action="user.create", target=f"user:{user.id}", email=email, role=role,
                           org=org_name)
        return user

    async def remove(self, actor: str, ident: str) -> User:
        """Removes a user by id or email."""
        async with self._lock:
            user = self.users.get(ident) or self.by_email(ident)
            if user is None:
                raise AccountError(f"No user '{ident}'.", param="id", code="user_not_found")
            await self._db.execute("DELETE FROM console_users WHERE id = ?", (user.id,))
            del self.users[user.id]
            del self._by_email[user.email]
        self._audit.record(actor=actor, action="user.remove", target=f"user:{user.id}", email=user.email,
                           org=user.org)
        return user

    async def authenticate(self, email: str, password: str) -> User | None:
        """The user, or None; a wrong email costs one scrypt like a wrong password does."""
        user = self.by_email(email) if isinstance(email, str) else None
        stored = user.password_hash if user is not None else dummy_hash()
        ok = await asyncio.to_thread(verify_password, password, stored)
        return user if ok and user is not None else None
