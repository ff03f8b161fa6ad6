"""The aiohttp glue against a real server on port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from shareai.wire.errors import ModelNotFound
from shareai.wire.http import MAX_JSON_DEPTH, error_middleware, read_json


async def echo(request: web.Request) -> web.Response:
    body = await read_json(request, max_bytes=100)
    return web.json_response({"got": body})


async def missing(request: web.Request) -> web.Response:
    raise ModelNotFound("ghost")


async def crash(request: web.Request) -> web.Response:
    raise RuntimeError("secret internals")


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    app = web.Application(middlewares=[error_middleware])
    app.router.add_post("/echo", echo)
    app.router.add_get("/missing", missing)
    app.router.add_get("/crash", crash)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_errors_are_openai_shaped(base_url: str) -> None:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as s:
        async with s.post(f"{base_url}/echo", data=b"{not json") as r:
            assert r.status == 400
            assert (await r.json())["error"]["code"] == "invalid_json"
        async with s.post(f"{base_url}/echo", data=b"x" * 500) as r:
            assert r.status == 413
            assert set((await r.json())["error"]) == {"message", "type", "param", "code"}
        async with s.get(f"{base_url}/missing") as r:
            assert r.status == 404 and (await r.json())["error"]["param"] == "model"
        async with s.get(f"{base_url}/nowhere") as r:
            assert r.status == 404 and (await r.json())["error"]["code"] == "unknown_url"
        async with s.get(f"{base_url}/echo") as r:
            assert r.status == 405 and "error" in await r.json()
        async with s.get(f"{base_url}/crash") as r:
            body = await r.text()
            assert r.status == 500 and "secret internals" not in body and "Traceback" not in body
        async with s.post(f"{base_url}/echo", json={"a": 1}) as r:
            assert r.status == 200 and await r.json() == {"got": {"a": 1}}



async def echo_unbounded(request: web.Request) -> web.Response:
    return web.json_response({"got": await read_json(request)})


@pytest.mark.parametrize(("depth", "padding", "refused"), [
    (MAX_JSON_DEPTH, 0, False), (MAX_JSON_DEPTH + 1, 0, True),
    # Brackets inside a string count toward read_json's cheap bound, never toward the depth.
    (3, 200, False), (MAX_JSON_DEPTH, 200, False), (MAX_JSON_DEPTH + 1, 200, True),
])
async def test_depth_limit_whatever_brackets_strings_hold(depth: int, padding: int, refused: bool) -> None:
    app = web.Application(middlewares=[error_middleware])
    app.router.add_post("/echo", echo_unbounded)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    # depth counts the outer object: {"s": ..., "v": [[...1...]]} is 1 + (depth - 1) deep.
    body = b'{"s":"' + b"[{" * padding + b'","v":' + b"[" * (depth - 1) + b"1" + b"]" * (depth - 1) + b"}"
    try:
        async with aiohttp.ClientSession() as s, s.post(f"http://127.0.0.1:{port}/echo", data=body) as resp:
            answer = await resp.json()
            status = resp.status
    finally:
        await runner.cleanup()
    assert (status == 400) is refused, answer
    if refused:
        assert answer["error"]["code"] == "invalid_json" and "deeper than" in answer["error"]["message"]
    else:
        assert answer["got"]["s"] == "[{" * padding
