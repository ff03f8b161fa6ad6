"""Signing in and out, and the viewer of each console request.

    auth = ConsoleAuth(users, sessions, limiter, audit, secure=config.tls, revoke_key=...)
    viewer, session = auth.viewer(request)            # 401 without a live session
    viewer, session = auth.changing(request)          # also checks CSRF (every state-changing call)

    POST /console/api/signin   {"email", "password"}   x-csrf-token: the sign-in page's token
    POST /console/api/signout                          x-csrf-token: the session's token

A failed sign-in says only "wrong email or password" and counts against the email and the client
address (`signin.py`: 429 with `retry-after` past the limit). Signing in and out are audited with
the user as actor; failures are audited with the email tried (never the password).
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from shareai.coordinator.audit import AuditLog
from shareai.coordinator.console.accounts import User, UserDirectory
from shareai.coordinator.console.scope import Viewer
from shareai.coordinator.console.security import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    check_csrf,
    clear_cookie,
    harden,
    public_origin,
    set_cookie,
)
from shareai.coordinator.console.sessions import Session, SessionStore
from shareai.coordinator.console.signin import SigninLimiter
from shareai.wire.errors import AuthenticationError, InvalidRequest, RateLimited
from shareai.wire.http import read_json

log = logging.getLogger(__name__)

# Revokes a session's playground key: (actor, key id).
RevokeKey = Callable[[str, str], Awaitable[None]]


class NotSignedIn(AuthenticationError):
    default_code = "not_signed_in"


class ConsoleAuth:
    def __init__(self, users: UserDirectory, sessions: SessionStore, limiter: SigninLimiter, audit: AuditLog, *,
                 secure: bool, revoke_key: RevokeKey, public_url: str | None = None) -> None:
        self.users = users
        self.sessions = sessions
        self.limiter = limiter
        self._audit = audit
        self._secure = secure
        self._revoke_key = revoke_key
        self._origin = public_origin(public_url)

    # -- per request -----------------------------------------------------------------------------

    def current(self, request: web.Request) -> tuple[Viewer, Session] | None:
        session = self.sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        user = self.users.users.get(session.user_id)
        if user is None:  # removed while signed in
            return None
        return Viewer.of(user), session

    def viewer(self, request: web.Request) -> tuple[Viewer, Session]:
        found = self.current(request)
        if found is None:
            raise NotSignedIn("Sign in to the console first.")
        return found

    def changing(self, request: web.Request) -> tuple[Viewer, Session]:
        viewer, session = self.viewer(request)
        check_csrf(request, session.csrf, origin=self._origin)
        return viewer, session

    def signin_token(self, request: web.Request, response: web.StreamResponse) -> str:
        """The pre-session CSRF token of the sign-in page (a cookie, echoed by its script)."""
        token = request.cookies.get(SIGNIN_COOKIE)
        if not token or len(token) > 128:
            token = secrets.token_urlsafe(32)
        set_cookie(response, SIGNIN_COOKIE, token, secure=self._secure, max_age=3600)
        return token

    # -- routes ----------------------------------------------------------------------------------

    async def signin(self, request: web.Request) -> web.StreamResponse:
        check_csrf(request, request.cookies.get(SIGNIN_COOKIE), origin=self._origin)
        body = await read_json(request, 16 * 1024)
        if not isinstance(body, dict):
            raise InvalidRequest("The body must be a JSON object.")
        email, password = body.get("email"), body.get("password")
        if not isinstance(email, str) or not email or len(email) > 320:
            raise InvalidRequest("'email' is required.", param="email")
        if not isinstance(password, str) or not password or len(password) > 1024:
            raise InvalidRequest("'password' is required.", param="password")
        address = request.remote or "?"
        wait = self.limiter.blocked(email, address)
        if wait > 0:
            raise RateLimited("Too many failed sign-ins; wait before trying again.", code="signin_rate_limited",
                              headers={"retry-after": str(max(1, math.ceil(wait)))})
        self.limiter.failed(email, address)  # counted before the await: concurrent guesses see it
        user = await self.users.authenticate(email, password)
        if user is None:
            self._audit.record(actor="console", action="console.signin_failed", target=f"email:{email.lower()}",
                               address=address)
            raise AuthenticationError("Wrong email or password.", code="invalid_credentials")
        self.limiter.succeeded(email, address)
        previous = self.sessions.end(request.cookies.get(SESSION_COOKIE))  # a new id on every sign-in
        if previous is not None:
            await self.end(user.actor, [previous])
        return self._start_session(user, address)

    def _start_session(self, user: User, address: str) -> web.StreamResponse:
        sid, session = self.sessions.create(user.id)
        self._audit.record(actor=user.actor, action="console.signin", target=f"user:{user.id}", org=user.org,
                           address=address)
        response = harden(web.json_response({"user": user.to_json(), "csrf": session.csrf}))
        set_cookie(response, SESSION_COOKIE, sid, secure=self._secure, max_age=self.sessions.max_s)
        clear_cookie(response, SIGNIN_COOKIE, secure=self._secure)
        return response

    async def signout(self, request: web.Request) -> web.StreamResponse:
        viewer, _ = self.changing(request)
        session = self.sessions.end(request.cookies.get(SESSION_COOKIE))
        if session is not None:
            await self.end(viewer.actor, [session])
        self._audit.record(actor=viewer.actor, action="console.signout", target=f"user:{viewer.user_id}",
                           org=viewer.org)
        response = harden(web.json_response({"signed_out": True}))
        clear_cookie(response, SESSION_COOKIE, secure=self._secure)
        return response

    async def end(self, actor: str, sessions: list[Session]) -> None:
        """Clean-up of ended sessions: their playground keys are revoked."""
        for s in sessions:
            if s.playground_key is not None:
                try:
                    await self._revoke_key(actor, s.playground_key)
                except Exception:  # the key also expires with the session's absolute end
                    log.exception("revoking playground key %s failed", s.playground_key)

    def me(self, viewer: Viewer, session: Session, orgs: list[str]) -> dict[str, Any]:
        return {"email": viewer.email, "role": viewer.role, "org": viewer.org, "csrf": session.csrf,
                "orgs": orgs if viewer.owner else [viewer.org]}
