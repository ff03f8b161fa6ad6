"""Who may read the coordinator's /metrics (node ids, routes, request counts): the admin key or the
`[server] metrics_token`, never anonymous callers or tenants' API keys, unless `metrics_public = true`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shareai.coordinator.app import Coordinator
from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import ConfigError, CoordinatorConfig, parse_config

ADMIN_KEY = "sa-admin-metrics-test-0123456789"
METRICS_TOKEN = "metrics-token-0123456789abcdef"
TIMEOUT = aiohttp.ClientTimeout(total=30)

Start = Callable[..., Awaitable[Coordinator]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    started: list[Coordinator] = []

    async def make(**server: Any) -> Coordinator:
        cfg = CoordinatorConfig(http_port=0, grpc_port=0, data_dir=tmp_path / f"c{len(started)}",
                                api_keys=["sk-bootstrap-metrics"], **server).validate()
        coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
        await coord.start()
        started.append(coord)
        return coord

    yield make
    for coord in started:
        await coord.stop(grace_s=1.0)


async def _get(coord: Coordinator, headers: list[tuple[str, str]]) -> tuple[int, Any]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s, s.get(coord.url + "/metrics", headers=headers) as r:
        text = await r.text()
        return r.status, (await r.json() if r.content_type == "application/json" else text)


async def _org_key(coord: Coordinator) -> str:
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with aiohttp.ClientSession(timeout=TIMEOUT, headers=auth) as s:
        async with s.post(coord.url + "/admin/v1/orgs", json={"name": "tenant"}) as r:
            assert r.status in (200, 201), await r.text()
        async with s.post(coord.url + "/admin/v1/keys", json={"org": "tenant", "name": "app"}) as r:
            assert r.status in (200, 201), await r.text()
            return str((await r.json())["secret"])


def bearer(token: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {token}")


async def test_metrics_need_the_admin_key_or_the_metrics_token(start: Start) -> None:
    coord = await start(metrics_token=METRICS_TOKEN)
    tenant = await _org_key(coord)
    for headers in ([], [bearer(tenant)], [bearer("sk-bootstrap-metrics")], [bearer(METRICS_TOKEN + "x")],
                    [("api-key", tenant)], [bearer(ADMIN_KEY[:-1])]):
        status, body = await _get(coord, headers)
        assert status == 401, (headers, body)
        assert body["error"]["type"] == "authentication_error" and "/metrics" in body["error"]["message"]
        assert "shareai_gateway" not in str(body)
    for token in (ADMIN_KEY, METRICS_TOKEN):
        status, body = await _get(coord, [bearer(token)])
        assert status == 200 and "shareai_gateway_requests_total" in body
    # A duplicated Authorization header is refused, whichever copy is valid (no reading one, checking another).
    for headers in ([bearer(tenant), bearer(ADMIN_KEY)], [bearer(ADMIN_KEY), bearer(tenant)],
                    [bearer(METRICS_TOKEN), ("api-key", tenant)]):
        status, body = await _get(coord, headers)
        assert status == 401, headers


async def test_without_a_metrics_token_only_the_admin_key_reads_them(start: Start) -> None:
    coord = await start()
    assert (await _get(coord, []))[0] == 401
    assert (await _get(coord, [bearer("")]))[0] == 401
    assert (await _get(coord, [bearer(ADMIN_KEY)]))[0] == 200


async def test_metrics_public_opens_them_explicitly(start: Start) -> None:
    coord = await start(metrics_public=True)
    status, body = await _get(coord, [])
    assert status == 200 and "shareai_gateway_open_circuits" in body


def test_metrics_settings_parse_and_validate() -> None:
    cfg = parse_config({"server": {"metrics_token": METRICS_TOKEN}})
    assert (cfg.metrics_token, cfg.metrics_public) == (METRICS_TOKEN, False)
    assert METRICS_TOKEN not in str(cfg.masked())
    assert parse_config({"server": {"metrics_public": True}}).metrics_public
    with pytest.raises(ConfigError, match="metrics_public"):
        parse_config({"server": {"metrics_public": True, "metrics_token": METRICS_TOKEN}})
    with pytest.raises(ConfigError, match="metrics_token"):
        parse_config({"server": {"metrics_token": "short"}})
