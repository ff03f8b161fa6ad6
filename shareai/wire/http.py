"""aiohttp glue for OpenAI-shaped servers: JSON bodies with a size limit, errors as OpenAI bodies.

Both the node agent and the coordinator install `error_middleware`, so no handler ever answers
with a traceback or an HTML error page: `OpenAIError`s become their status and body, aiohttp's own
HTTP errors (unknown route, wrong method) are reshaped, anything else is logged and becomes a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from shareai.wire import jsonc
from shareai.wire.errors import (
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    OpenAIError,
    PayloadTooLarge,
    ServerError,
    from_status,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
# Arrays and objects nest at most this deep in a request body (a deep JSON schema in `tools` or
# `response_format` stays far below it). Deeper bodies are a 400: Python's decoder recurses, so
# thousands of `[` would otherwise end in a RecursionError, and every later walk of the body too.
MAX_JSON_DEPTH = 64

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(value: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """`web.json_response` through the project's codec (`jsonc`: orjson where installed); the same
    `Content-Type: application/json; charset=utf-8`."""
    return web.Response(body=jsonc.dumps_bytes(value), status=status, headers=headers,
                        content_type="application/json", charset="utf-8")


def error_response(err: OpenAIError, headers: Mapping[str, str] | None = None) -> web.Response:
    merged = {**err.headers, **(headers or {})}
    return web.Response(body=err.body_bytes(), status=err.status, headers=merged,
                        content_type="application/json", charset="utf-8")


async def read_json(request: web.Request, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Any:
    """The decoded JSON body; 413 past `max_bytes` (checked before and while reading), 400 if not JSON
    or nested deeper than `MAX_JSON_DEPTH`."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(f"Request body of {request.content_length} bytes exceeds the limit of {max_bytes} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"Request body exceeds the limit of {max_bytes} bytes.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidRequest("The request body is empty; expected a JSON object.", code="invalid_json")
    try:
        body = jsonc.loads(raw)  # `json.loads` semantics, errors included (see jsonc)
    except RecursionError:
        body = None
        too_deep = True
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer past Python's digit limit
        raise InvalidRequest(f"The request body is not valid JSON: {exc}.", code="invalid_json") from None
    else:
        # Nesting is at most the number of `[`/`{` bytes (one per bracket in UTF-8, 16 and 32; more
        # bytes only over-count): a typical body has a handful, and skips the walk of its tree.
        too_deep = (raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH
                    and json_depth_exceeds(body, MAX_JSON_DEPTH))
    if too_deep:
        raise InvalidRequest(f"The request body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels.",
                             code="invalid_json")
    return body


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays and objects in `value` nest deeper than `limit` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except OpenAIError as err:
        return error_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        shaped: OpenAIError
        keep: dict[str, str] = {}
        if exc.status == 404:
            shaped = NotFound(f"Unknown path {request.method} {request.path}.", code="unknown_url")
        elif exc.status == 405:
            shaped = MethodNotAllowed(f"Method {request.method} is not allowed on {request.path}.")
            if "Allow" in exc.headers:
                keep["Allow"] = exc.headers["Allow"]  # RFC 9110: a 405 says which methods are
        elif exc.status == 413:
            shaped = PayloadTooLarge("Request body too large.")
        else:
            shaped = from_status(exc.status, exc.reason or "HTTP error")
        return error_response(shaped, keep)
    except (ConnectionResetError, web.HTTPClientError):
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(ServerError("Internal server error.", code="internal_error"))


def bearer_token(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer <token>` (or `api-key:` as Azure clients send it)."""
    auth = request.headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    alt = request.headers.get("api-key")
    return alt.strip() if alt else None
