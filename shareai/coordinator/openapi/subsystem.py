"""Serves the description: `GET /openapi.json`, no key needed (it holds no secrets).

    part = OpenApiSubsystem()          # compose.build_coordinator adds it last to the coordinator's parts
    GET /openapi.json                  # application/json, the same bytes for the process's life

A coordinator part without tables or gRPC. The full document is built at construction, so a mistake
in it fails before anything opens. At start (after every other part has added its routes) it is cut
to the operations this coordinator really serves: one configured without governance does not
describe the org, key, limit, usage and audit routes it lacks. A served route the document does not
describe is logged as a warning (the tests fail on it).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import grpc
from aiohttp import web

from shareai.coordinator.interfaces import Host
from shareai.coordinator.openapi.document import build_document
from shareai.coordinator.store.db import Schema
from shareai.wire import jsonc

log = logging.getLogger(__name__)

ROUTE = "/openapi.json"
CONSOLE_PREFIX = "/console"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_TYPED_PARAM = re.compile(r"\{(\w+):[^}]*\}")  # aiohttp's `{model:.+}` is OpenAPI's `{model}`


def served_operations(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every route on `app`, lowercase methods and OpenAPI path templates. HEAD is
    left out: aiohttp adds it to every GET by itself. So is the console (`/console`, `/console/...`): its
    pages and their JSON calls are bound to a signed-in browser session (cookie + CSRF token) and are
    the console's own, not an API for clients; the users it signs in are managed at `/admin/v1/users`."""
    ops = set()
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        if route.resource.canonical == CONSOLE_PREFIX or route.resource.canonical.startswith(CONSOLE_PREFIX + "/"):
            continue
        ops.add((route.method.lower(), _TYPED_PARAM.sub(r"{\1}", route.resource.canonical)))
    return ops


def described_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item if method in METHODS}


def restricted(document: dict[str, Any], operations: set[tuple[str, str]]) -> dict[str, Any]:
    """`document` with only `operations` in its paths (components stay whole)."""
    paths: dict[str, Any] = {}
    for path, item in document["paths"].items():
        kept = {k: v for k, v in item.items() if k not in METHODS or (k, path) in operations}
        if any(k in METHODS for k in kept):
            paths[path] = kept
    return {**document, "paths": paths}


class OpenApiSubsystem:
    name = "openapi"
    schemas: tuple[Schema, ...] = ()

    def __init__(self) -> None:
        self.document: dict[str, Any] = build_document()
        self._body = b""

    async def start(self, host: Host) -> None:
        app = host.http_app
        app.router.add_get(ROUTE, self._serve)
        served = served_operations(app)
        missing = served - described_operations(self.document)
        if missing:
            log.warning("routes without an API description: %s",
                        ", ".join(f"{m.upper()} {p}" for m, p in sorted(missing)))
        self.document = restricted(self.document, served)
        self._body = jsonc.dumps_bytes(self.document)

    def grpc_interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        return []

    def add_grpc_services(self, server: grpc.aio.Server) -> None:
        pass

    async def close(self) -> None:
        pass

    async def _serve(self, request: web.Request) -> web.Response:
        return web.Response(body=self._body, content_type="application/json", charset="utf-8")
