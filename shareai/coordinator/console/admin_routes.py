"""Console users over the admin API (admin key), what `shareai-coordinator user ...` calls.

    POST   /admin/v1/users          {"email", "password", "role", "org"?}   -> the user (201)
    GET    /admin/v1/users[?org=O]  {"data": [user, ...]}                   (never a hash)
    DELETE /admin/v1/users/{id or email}                                    (ends their sessions)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from shareai.coordinator.admin import AdminAuth
from shareai.coordinator.console.accounts import AccountError, User, UserDirectory
from shareai.wire.errors import InvalidRequest, NotFound
from shareai.wire.http import read_json

PREFIX = "/admin/v1/users"


def account_error(err: AccountError) -> InvalidRequest | NotFound:
    if err.code in ("user_not_found", "org_not_found"):
        return NotFound(err.message, param=err.param, code=err.code)
    return InvalidRequest(err.message, param=err.param, code=err.code)


class UserAdminRoutes:
    def __init__(self, users: UserDirectory, admin: AdminAuth, *, org_exists: Callable[[str], bool],
                 on_removed: Callable[[str, User], Awaitable[None]]) -> None:
        self._users = users
        self._admin = admin
        self._org_exists = org_exists
        self._on_removed = on_removed

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(PREFIX, self.create)
        app.router.add_get(PREFIX, self.list)
        app.router.add_delete(PREFIX + "/{ident}", self.remove)

    async def create(self, request: web.Request) -> web.Response:
        actor = self._admin.require(request)
        body: Any = await read_json(request, 16 * 1024)
        if not isinstance(body, dict):
            raise InvalidRequest("The body must be a JSON object.")
        password = body.get("password")
        if not isinstance(password, str):
            raise InvalidRequest("'password' is required.", param="password")
        try:
            user = await self._users.create(actor, email=body.get("email"), password=password,
                                            role=body.get("role"), org=body.get("org"),
                                            org_exists=self._org_exists)
        except AccountError as err:
            raise account_error(err) from None
        return web.json_response(user.to_json(), status=201)

    async def list(self, request: web.Request) -> web.Response:
        self._admin.require(request)
        return web.json_response({"data": [u.to_json() for u in self._users.list(request.query.get("org"))]})

    async def remove(self, request: web.Request) -> web.Response:
        actor = self._admin.require(request)
        try:
            user = await self._users.remove(actor, request.match_info["ident"])
        except AccountError as err:
            raise account_error(err) from None
        await self._on_removed(actor, user)
        return web.json_response({**user.to_json(), "removed": True})
