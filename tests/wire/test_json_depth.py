"""Hostile JSON bodies (5,000 nested arrays, over-deep objects, undecodable numbers) get a 400
`invalid_json` from every server that reads JSON: the gateway, the admin API and the node agent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from shareai.agent.backends.fake import FakeBackend
from shareai.coordinator.app import Coordinator
from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import CoordinatorConfig, ProviderConfig, ProviderModel
from shareai.wire.http import MAX_JSON_DEPTH
from tests.agent.helpers import pool_of, running

ADMIN_KEY = "sa-admin-json-depth-0123456789"
TIMEOUT = aiohttp.ClientTimeout(total=30)

NESTED_5000 = b"[" * 5000 + b"]" * 5000
NESTED_OBJECTS = (b'{"a":' * (MAX_JSON_DEPTH + 1)) + b"1" + b"}" * (MAX_JSON_DEPTH + 1)
HUGE_INT = b'{"model": "m", "max_tokens": ' + b"9" * 5000 + b"}"
HOSTILE = [NESTED_5000, NESTED_OBJECTS, HUGE_INT]


def _at_limit() -> bytes:
    """A body exactly MAX_JSON_DEPTH deep (the limit itself is allowed)."""
    inner = b"1"
    for _ in range(MAX_JSON_DEPTH - 1):
        inner = b"[" + inner + b"]"
    return b'{"model": "m", "messages": ' + inner + b"}"


@pytest.fixture
async def coord(tmp_path: Path) -> AsyncIterator[Coordinator]:
    cfg = CoordinatorConfig(
        http_host="127.0.0.1", http_port=0, grpc_host="127.0.0.1", grpc_port=0, data_dir=tmp_path / "data",
        api_keys=["bootstrap-key-json-depth"],
        providers=[ProviderConfig(name="provider-a", base_url="http://127.0.0.1:9/v1",
                                  models=[ProviderModel("gemma", "gemma", 1.0, 2.0)])],
    ).validate()
    c = build_coordinator(cfg, admin_key=ADMIN_KEY)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


async def _post(url: str, body: bytes, key: str) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.post(url, data=body, headers=headers) as r:
        return r.status, await r.json()


def _is_invalid_json(status: int, body: dict[str, object]) -> bool:
    err = body.get("error")
    return (status == 400 and isinstance(err, dict) and err.get("code") == "invalid_json"
            and set(err) == {"message", "type", "param", "code"} and "Traceback" not in str(err))


@pytest.mark.parametrize("body", HOSTILE, ids=["nested-5000", "objects-past-limit", "huge-int"])
async def test_gateway_answers_400(coord: Coordinator, body: bytes) -> None:
    status, answer = await _post(coord.url + "/v1/chat/completions", body, "bootstrap-key-json-depth")
    assert _is_invalid_json(status, answer), (status, answer)


async def test_gateway_accepts_a_body_at_the_depth_limit(coord: Coordinator) -> None:
    status, answer = await _post(coord.url + "/v1/chat/completions", _at_limit(), "bootstrap-key-json-depth")
    # Decoded fine; then refused by validation (messages is not an array of messages), not as JSON.
    assert status == 400 and answer["error"]["code"] != "invalid_json", answer  # type: ignore[index]


@pytest.mark.parametrize("body", HOSTILE, ids=["nested-5000", "objects-past-limit", "huge-int"])
async def test_admin_api_answers_400(coord: Coordinator, body: bytes) -> None:
    for path in ("/admin/v1/orgs", "/admin/v1/keys", "/admin/v1/limits"):
        status, answer = await _post(coord.url + path, body, ADMIN_KEY)
        assert _is_invalid_json(status, answer), (path, status, answer)


@pytest.mark.parametrize("body", HOSTILE, ids=["nested-5000", "objects-past-limit", "huge-int"])
async def test_node_agent_answers_400(body: bytes) -> None:
    async with running([pool_of("fake-a", lambda: FakeBackend(reply="hi"))]) as (_, url):
        for path in ("/chat/completions", "/completions"):
            status, answer = await _post(url + path, body, "unused")
            assert _is_invalid_json(status, answer), (path, status, answer)
