"""Server-side console sessions.

    sessions = SessionStore(idle_s=1800, max_s=12 * 3600, clock=time.time)
    sid, session = sessions.create(user)        # `sid` goes into the cookie; only its hash is kept
    session = sessions.get(sid)                  # None when unknown, idle too long or too old
    sessions.end(sid)                            # sign-out

The cookie carries a 256-bit random id; the store is keyed by its SHA-256, so a memory dump holds no
usable cookie. Each session has its own CSRF token (sent back by the pages' scripts in
`x-csrf-token`) and, once the playground is used, the id of its session-scoped API key, which the
console revokes when the session ends. Sessions live in memory: a coordinator restart signs
everyone out (the playground keys also carry an expiry, the session's absolute end).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from shareai.wire.tokens import hash_secret

IDLE_S = 30 * 60.0
MAX_S = 12 * 3600.0


def expired(created_at: float, last_seen: float, now: float, *, idle_s: float, max_s: float) -> bool:
    """Pure: a session ends `idle_s` after its last use or `max_s` after it began, whichever is first."""
    return now - last_seen > idle_s or now - created_at > max_s


@dataclass(slots=True)
class Session:
    user_id: str
    csrf: str
    created_at: float
    last_seen: float
    playground_key: str | None = None  # the id of the session-scoped API key
    playground_org: str | None = None


class SessionStore:
    def __init__(self, *, idle_s: float = IDLE_S, max_s: float = MAX_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.idle_s = idle_s
        self.max_s = max_s
        self._clock = clock
        self._sessions: dict[str, Session] = {}

    def create(self, user_id: str) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(user_id=user_id, csrf=secrets.token_urlsafe(32), created_at=now, last_seen=now)
        self._sessions[hash_secret(sid)] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        """The live session for a cookie value (touching it), or None. An expired one is
        left for `take_expired`, which hands it to the clean-up (its key is revoked)."""
        if not sid:
            return None
        key = hash_secret(sid)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self._clock()
        if expired(session.created_at, session.last_seen, now, idle_s=self.idle_s, max_s=self.max_s):
            return None
        session.last_seen = now
        return session

    def end(self, sid: str | None) -> Session | None:
        return self._sessions.pop(hash_secret(sid), None) if sid else None

    def end_user(self, user_id: str) -> list[Session]:
        """Every session of a removed user."""
        keys = [k for k, s in self._sessions.items() if s.user_id == user_id]
        return [self._sessions.pop(k) for k in keys]

    def take_expired(self) -> list[Session]:
        """Drops and returns the sessions past their idle or absolute end (their keys get revoked)."""
        now = self._clock()
        keys = [k for k, s in self._sessions.items()
                if expired(s.created_at, s.last_seen, now, idle_s=self.idle_s, max_s=self.max_s)]
        return [self._sessions.pop(k) for k in keys]

    def __len__(self) -> int:
        return len(self._sessions)
