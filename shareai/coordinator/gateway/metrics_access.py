"""Who may read the coordinator's `/metrics`: they name node ids, routes and each org's traffic.

    access = MetricsAccess(is_admin=coord.admin.is_admin, token=cfg.metrics_token, public=cfg.metrics_public)
    access.check(request)        # raises AuthenticationError (401) unless allowed

Allowed: the admin key, or the `[server] metrics_token` bearer (for a Prometheus scraper that should
not hold the admin key), both compared in constant time; anyone only with `metrics_public = true`.
Tenants' API keys never read them. A request that carries its credential twice (two
`Authorization` headers, or `Authorization` and `api-key`) is refused: which copy counts must not
depend on who reads the headers.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from shareai.wire.errors import AuthenticationError
from shareai.wire.http import bearer_token
from shareai.wire.tokens import hash_secret, verify_secret


class MetricsAccess:
    def __init__(self, *, is_admin: Callable[[str | None], bool], token: str | None, public: bool) -> None:
        self._is_admin = is_admin
        self._token_hash = hash_secret(token) if token else None  # kept hashed, like every secret
        self.public = public

    def check(self, request: web.Request) -> None:
        if self.public:
            return
        credentials = request.headers.getall("Authorization", []) + request.headers.getall("api-key", [])
        if len(credentials) > 1:
            raise AuthenticationError("/metrics: send one credential, in one Authorization header.")
        token = bearer_token(request)
        if token is None:
            raise AuthenticationError("/metrics needs 'Authorization: Bearer <admin key or [server] metrics_token>'.",
                                      code="missing_api_key")
        # Both checks always run: the time taken does not say which one matched.
        ok = self._is_admin(token)
        ok |= self._token_hash is not None and verify_secret(token, self._token_hash)
        if not ok:
            raise AuthenticationError("/metrics: the admin key or the [server] metrics_token is needed; "
                                      "API keys cannot read metrics.")
