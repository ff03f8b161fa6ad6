"""The composition root: what `build_coordinator` wires, and that nothing is found missing silently.

Through the real HTTP API with the official `openai` SDK, against a fake provider on port 0.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import openai
import pytest

from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import ConfigError, CoordinatorConfig, ProviderConfig, ProviderModel, parse_config
from shareai.coordinator.gateway.fallbacks import EmptyDirectory, NoopGovernor, StaticKeyAuthenticator
from shareai.coordinator.gateway.subsystem import GatewaySubsystem
from shareai.coordinator.governance.models import Org
from shareai.testing.fake_provider import FakeProvider

ADMIN_KEY = "sa-admin-compose-test"
CONFIG_KEY = "sk-config-bootstrap-key"
MODEL = "gemma"
MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    p = await FakeProvider(model=MODEL, reply="hello there", name="a").start()
    try:
        yield p
    finally:
        await p.stop()


def config(data_dir: Path, provider: FakeProvider, **governance: object) -> CoordinatorConfig:
    return parse_config({
        "server": {"http_host": "127.0.0.1", "http_port": 0, "grpc_host": "127.0.0.1", "grpc_port": 0,
                   "data_dir": str(data_dir)},
        "auth": {"api_keys": [CONFIG_KEY]},
        "governance": governance,
        "providers": [{"name": "provider-a", "base_url": provider.base_url, "api_keys": ["pk"],
                       "models": [{"name": MODEL, "input_per_mtok": 1.0, "output_per_mtok": 2.0}]}],
    })


def client(coord_url: str, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=coord_url + "/v1", api_key=key, max_retries=0, timeout=15)


async def test_default_config_runs_real_governance_an_org_key_gets_its_limits(tmp_path: Path,
                                                                             provider: FakeProvider) -> None:
    cfg = config(tmp_path / "c", provider)
    assert cfg.governance.enabled is True  # the default
    coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
    await coord.start()
    try:
        gov = coord.governance
        assert gov is not None and coord.gateway.governor is gov and coord.gateway.authenticator is gov
        assert coord.gateway.directory is coord.fleet.directory
        await gov.directory.create_org("admin", Org("acme"))
        await gov.directory.set_limits("admin", "org:acme", {"rpm": 1})
        _, secret = await gov.directory.create_key("admin", org="acme")
        async with client(coord.url, secret) as c:
            first = await c.chat.completions.with_raw_response.create(model=MODEL, messages=MSG)
            assert first.headers["x-ratelimit-limit-requests"] == "1"
            with pytest.raises(openai.RateLimitError) as err:
                await c.chat.completions.create(model=MODEL, messages=MSG)
            assert err.value.status_code == 429
        async with client(coord.url, "sk-not-a-key") as c:
            with pytest.raises(openai.AuthenticationError):
                await c.models.list()
        # Fleet tokens must name an org governance knows.
        async with aiohttp.ClientSession() as http, http.post(
                coord.url + "/admin/v1/tokens", json={"org": "nobody"},
                headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as r:
            assert r.status == 404 and (await r.json())["error"]["code"] == "org_not_found"
    finally:
        await coord.stop()


async def test_governance_disabled_uses_the_fallbacks_explicitly_and_says_so(
        tmp_path: Path, provider: FakeProvider, caplog: pytest.LogCaptureFixture) -> None:
    cfg = config(tmp_path / "c", provider, enabled=False)
    with caplog.at_level(logging.WARNING, logger="shareai.coordinator.compose"):
        coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
    assert any("governance disabled" in r.getMessage() for r in caplog.records)
    assert coord.governance is None
    assert isinstance(coord.gateway.governor, NoopGovernor)
    assert isinstance(coord.gateway.authenticator, StaticKeyAuthenticator)
    await coord.start()
    try:
        async with client(coord.url, CONFIG_KEY) as c:
            for _ in range(3):  # no limits at all
                raw = await c.chat.completions.with_raw_response.create(model=MODEL, messages=MSG)
                assert "x-ratelimit-limit-requests" not in raw.headers
        async with client(coord.url, "sk-not-a-key") as c:
            with pytest.raises(openai.AuthenticationError):
                await c.models.list()
        assert len(coord.gateway.governor.records) == 3  # type: ignore[attr-defined]
        async with aiohttp.ClientSession() as http:
            async with http.post(coord.url + "/admin/v1/tokens", json={"org": "anything"},
                                 headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as r:
                assert r.status == 201  # no org directory: any org name, as configured
            async with http.get(coord.url + "/admin/v1/orgs", headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as r:
                assert r.status == 404  # no governance admin API either
    finally:
        await coord.stop()


def test_governance_enabled_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError):
        parse_config({"governance": {"enabled": "no"}})
    assert parse_config({"governance": {"enabled": False}}).governance.enabled is False


def test_a_gateway_cannot_be_built_without_its_collaborators(tmp_path: Path) -> None:
    cfg = CoordinatorConfig(data_dir=tmp_path / "c", providers=[
        ProviderConfig(name="p", base_url="http://127.0.0.1:9/v1", models=[ProviderModel(MODEL, MODEL, 1.0, 1.0)])])
    auth = StaticKeyAuthenticator([CONFIG_KEY])
    with pytest.raises(TypeError, match="governor"):
        GatewaySubsystem(cfg, directory=EmptyDirectory(), authenticator=auth)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="governor"):
        GatewaySubsystem(cfg, directory=EmptyDirectory(), authenticator=auth, governor=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="authenticator"):
        GatewaySubsystem(cfg, directory=EmptyDirectory(), authenticator=None,  # type: ignore[arg-type]
                         governor=NoopGovernor())
    with pytest.raises(TypeError, match="directory"):
        GatewaySubsystem(cfg, directory=None, authenticator=auth, governor=NoopGovernor())  # type: ignore[arg-type]
