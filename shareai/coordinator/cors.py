"""CORS for the OpenAI-compatible API, so a browser app can call `/v1/*` directly.

    [server]
    cors_origins = ["https://app.example", "http://localhost:5173"]   # or ["*"]; default: none

Off by default (no CORS headers at all). With origins configured, on `/v1/*` only (never the admin
API, the install scripts or `/metrics`):

    OPTIONS preflight (Origin + Access-Control-Request-Method)
        allowed origin  -> 204 with Access-Control-Allow-Origin/-Methods/-Headers/-Max-Age
        other origin    -> 403 OpenAI error `cors_origin_not_allowed` (the browser stops there)
    every answer (success, error, stream; headers are added as the response is prepared, so
    streams and error bodies get them too)
        Vary: Origin, and for an allowed origin Access-Control-Allow-Origin (the origin, or `*`
        when `*` is configured) and Access-Control-Expose-Headers (x-shareai-*, x-ratelimit-*,
        retry-after), so the app can read what happened.

Credentials (cookies) are never allowed: the API authenticates by bearer key, which a browser
app sends itself in `Authorization` (allowed in preflights).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import web

from shareai.wire.errors import PermissionDenied
from shareai.wire.http import Handler, error_response

PREFIX = "/v1/"
MAX_AGE_S = 600
ALLOW_METHODS = "GET, POST, OPTIONS"
# Request headers a browser client may send: ours, the OpenAI SDKs' own (x-stainless-* are matched
# by prefix), and what Azure-style clients use.
ALLOW_HEADERS = ("authorization", "content-type", "api-key", "x-shareai-policy", "x-shareai-route",
                 "openai-organization", "openai-project", "openai-beta", "idempotency-key")
STAINLESS = "x-stainless-"
MAX_ECHOED = 32
_NAME = re.compile(r"^[a-z0-9-]{1,64}$")
EXPOSE_HEADERS = ", ".join((
    "x-shareai-route", "x-shareai-attempts", "x-shareai-cost-usd", "x-shareai-cache",
    "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
    "retry-after",
))
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(?::\d{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$")


def valid_origin(value: str) -> bool:
    """`*`, or an origin as browsers send it: scheme, host and optional port, no path."""
    return value == "*" or bool(_ORIGIN.match(value))


class Cors:
    """The CORS policy of the HTTP API; `install(app)` adds its middleware and response hook."""

    def __init__(self, origins: Iterable[str]) -> None:
        configured = tuple(origins)
        self.any = "*" in configured
        self.origins = frozenset(o.lower() for o in configured if o != "*")

    def allow_origin(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for a request from `origin`, or None."""
        if not origin:
            return None
        if self.any:
            return "*"
        return origin if origin.lower() in self.origins else None

    def install(self, app: web.Application) -> None:
        app.middlewares.insert(0, self._preflight)
        app.on_response_prepare.append(self._decorate)

    @web.middleware
    async def _preflight(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        headers = request.headers
        if (request.method != "OPTIONS" or not request.path.startswith(PREFIX) or "Origin" not in headers
                or "Access-Control-Request-Method" not in headers
                or isinstance(request.match_info.http_exception, web.HTTPNotFound)):
            return await handler(request)
        allowed = self.allow_origin(headers.get("Origin"))
        if allowed is None:
            return error_response(PermissionDenied(
                "This origin may not call the API from a browser (not in [server] cors_origins).",
                code="cors_origin_not_allowed"))
        asked = [h.strip().lower() for h in headers.get("Access-Control-Request-Headers", "").split(",")]
        # The SDK's own headers, echoed (deduplicated, header-name characters only, a bounded number).
        extra = list(dict.fromkeys(h for h in asked if h.startswith(STAINLESS) and _NAME.match(h)))[:MAX_ECHOED]
        return web.Response(status=204, headers={
            "Access-Control-Allow-Methods": ALLOW_METHODS,
            "Access-Control-Allow-Headers": ", ".join((*ALLOW_HEADERS, *extra)),
            "Access-Control-Max-Age": str(MAX_AGE_S),
        })

    async def _decorate(self, request: web.Request, response: web.StreamResponse) -> None:
        if not request.path.startswith(PREFIX):
            return
        vary = response.headers.get("Vary")
        if not vary or "origin" not in vary.lower():
            response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"
        allowed = self.allow_origin(request.headers.get("Origin"))
        if allowed is not None:
            response.headers["Access-Control-Allow-Origin"] = allowed
            response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
