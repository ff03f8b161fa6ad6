"""CORS on the OpenAI-compatible API (`[server] cors_origins`): off by default, preflights
answered for allowed origins only, every /v1 answer (errors and streams included) marked for the
browser, never the admin API; a 405 says which methods are allowed (issue 17)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shareai.coordinator.app import Coordinator
from shareai.coordinator.config import CoordinatorConfig, parse_config
from shareai.coordinator.gateway.fallbacks import NoopGovernor
from shareai.testing.fake_provider import FakeProvider
from shareai.tomlconfig import ConfigError
from tests.coordinator.gateway.helpers import ADMIN_KEY, KEY, MODEL, provider
from tests.coordinator.parts import gateway_coordinator

APP = "https://app.example"
TIMEOUT = aiohttp.ClientTimeout(total=15)
PREFLIGHT = {"Origin": APP, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type, x-shareai-route, x-stainless-os"}
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Callable[[tuple[str, ...]], Awaitable[str]]]:
    up = await FakeProvider(model=MODEL).start()
    started: list[Coordinator] = []

    async def make(origins: tuple[str, ...]) -> str:
        cfg = CoordinatorConfig(http_host="127.0.0.1", http_port=0, grpc_host="127.0.0.1", grpc_port=0,
                                data_dir=tmp_path / f"c{len(started)}", api_keys=[KEY],
                                providers=[provider("provider-a", up)], cors_origins=origins).validate()
        coord = gateway_coordinator(cfg, admin_key=ADMIN_KEY, governor=NoopGovernor())
        await coord.start()
        started.append(coord)
        return coord.url

    yield make
    for c in started:
        await c.stop()
    await up.stop()


async def _call(method: str, url: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any, bytes]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s, s.request(method, url, headers=headers,
                                                                      json=body) as r:
        return r.status, r.headers, await r.read()


def test_cors_origins_are_validated_at_start() -> None:
    cfg = parse_config({"server": {"cors_origins": [APP, "http://localhost:5173", "*"]}})
    assert cfg.cors_origins == (APP, "http://localhost:5173", "*")
    assert parse_config({}).cors_origins == ()
    for bad in (["https://app.example/"], ["https://app.example/path"], ["app.example"], [5], "https://a.b"):
        with pytest.raises(ConfigError):
            parse_config({"server": {"cors_origins": bad}})


async def test_without_cors_origins_there_are_no_cors_headers_and_a_405_says_allow(serve: Any) -> None:
    url = await serve(())
    status, headers, body = await _call("OPTIONS", url + "/v1/chat/completions", PREFLIGHT)
    assert status == 405 and headers["Allow"] == "POST"
    assert set(_json(body)["error"]) == {"message", "type", "param", "code"}
    status, headers, _ = await _call("POST", url + "/v1/chat/completions",
                                     {"Origin": APP, "Authorization": f"Bearer {KEY}"}, CHAT)
    assert status == 200
    assert not [h for h in headers if h.lower().startswith("access-control-")]
    status, headers, _ = await _call("DELETE", url + "/v1/models", {"Authorization": f"Bearer {KEY}"})
    assert status == 405 and "GET" in headers["Allow"]


async def test_an_allowed_origin_gets_its_preflight_and_marked_answers(serve: Any) -> None:
    url = await serve((APP,))
    status, headers, body = await _call("OPTIONS", url + "/v1/chat/completions", PREFLIGHT)
    assert status == 204 and body == b""
    assert headers["Access-Control-Allow-Origin"] == APP and "Origin" in headers["Vary"]
    assert "POST" in headers["Access-Control-Allow-Methods"]
    allowed = {h.strip() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-shareai-route", "x-shareai-policy", "x-stainless-os"} <= allowed
    assert int(headers["Access-Control-Max-Age"]) > 0
    # An answer, an error (no key) and a stream all carry the headers the browser needs.
    for auth, body_sent, want in ((f"Bearer {KEY}", CHAT, 200), (None, CHAT, 401),
                                  (f"Bearer {KEY}", {**CHAT, "stream": True}, 200)):
        hdrs = {"Origin": APP, **({"Authorization": auth} if auth else {})}
        status, headers, raw = await _call("POST", url + "/v1/chat/completions", hdrs, body_sent)
        assert status == want
        assert headers["Access-Control-Allow-Origin"] == APP and "Origin" in headers["Vary"]
        exposed = {h.strip() for h in headers["Access-Control-Expose-Headers"].split(",")}
        assert {"x-shareai-route", "x-shareai-attempts", "retry-after", "x-ratelimit-remaining-requests"} <= exposed
        assert "Access-Control-Allow-Credentials" not in headers
    assert raw.rstrip().endswith(b"data: [DONE]")


async def test_another_origin_is_refused_and_never_marked(serve: Any) -> None:
    url = await serve((APP,))
    evil = {**PREFLIGHT, "Origin": "https://evil.example"}
    status, headers, body = await _call("OPTIONS", url + "/v1/chat/completions", evil)
    assert status == 403 and _json(body)["error"]["code"] == "cors_origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in headers
    status, headers, _ = await _call("POST", url + "/v1/chat/completions",
                                     {"Origin": "https://evil.example", "Authorization": f"Bearer {KEY}"}, CHAT)
    assert status == 200 and "Access-Control-Allow-Origin" not in headers and "Origin" in headers["Vary"]
    # Same host, other scheme or port: another origin.
    for other in ("http://app.example", "https://app.example:8443", "https://app.example.evil.example"):
        status, headers, _ = await _call("OPTIONS", url + "/v1/models", {**PREFLIGHT, "Origin": other})
        assert status == 403 and "Access-Control-Allow-Origin" not in headers
    # The admin API is never opened to browsers, whatever the origin.
    status, headers, _ = await _call("OPTIONS", url + "/admin/v1/routes", PREFLIGHT)
    assert status == 405 and "Access-Control-Allow-Origin" not in headers


async def test_a_star_allows_any_origin(serve: Any) -> None:
    url = await serve(("*",))
    status, headers, _ = await _call("OPTIONS", url + "/v1/models", {**PREFLIGHT, "Origin": "https://any.example"})
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "*"
    status, headers, _ = await _call("GET", url + "/v1/models", {"Origin": "https://any.example",
                                                                 "Authorization": f"Bearer {KEY}"})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"


def _json(raw: bytes) -> Any:
    return json.loads(raw)


async def test_hostile_preflights_get_a_clean_answer(serve: Any) -> None:
    url = await serve((APP,))
    cases = [
        {**PREFLIGHT, "Access-Control-Request-Headers": ", ".join(["x-stainless-a"] * 300 + ["evil-header"])},
        {**PREFLIGHT, "Access-Control-Request-Headers": ",,, ,"},
        {**PREFLIGHT, "Origin": "null"},  # sandboxed iframes and file:// pages
        {**PREFLIGHT, "Origin": APP.upper()},  # origins compare case-insensitively (scheme and host)
        {**PREFLIGHT, "Access-Control-Request-Method": "DELETE"},
    ]
    answers = []
    for headers in cases:
        status, got, _ = await _call("OPTIONS", url + "/v1/chat/completions", headers)
        answers.append((status, got.get("Access-Control-Allow-Origin")))
        assert "evil-header" not in got.get("Access-Control-Allow-Headers", "")
        assert got.get("Access-Control-Allow-Headers", "").count("x-stainless-a") <= 1
    assert answers == [(204, APP), (204, APP), (403, None), (204, APP.upper()), (204, APP)]
    # A preflight for a path that does not exist is the usual 404, not a CORS answer.
    status, got, body = await _call("OPTIONS", url + "/v1/nothing-here", PREFLIGHT)
    assert status == 404 and "Access-Control-Allow-Methods" not in got
    assert _json(body)["error"]["code"] == "unknown_url"
