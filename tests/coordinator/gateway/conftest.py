"""Fixtures: fake providers (real servers) and a real Coordinator running only the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI

from shareai.coordinator.app import Coordinator
from shareai.coordinator.config import CoordinatorConfig, ProviderConfig
from shareai.coordinator.gateway import GatewayOptions, GatewaySubsystem
from shareai.coordinator.gateway.fallbacks import NoopGovernor
from shareai.coordinator.interfaces import Authenticator, Governor, NodeDirectory
from shareai.testing.fake_provider import FakeProvider
from tests.coordinator.gateway.helpers import ADMIN_KEY, KEY
from tests.coordinator.parts import gateway_coordinator


@dataclass
class Gateway:
    coord: Coordinator
    sub: GatewaySubsystem
    client: AsyncOpenAI
    governor: Any

    @property
    def url(self) -> str:
        return self.coord.url

    def records(self) -> list[Any]:
        return list(self.governor.records)


@pytest.fixture
async def fakes() -> AsyncIterator[Callable[..., Awaitable[FakeProvider]]]:
    started: list[FakeProvider] = []

    async def make(**kwargs: Any) -> FakeProvider:
        p = await FakeProvider(**kwargs).start()
        started.append(p)
        return p

    yield make
    for p in started:
        await p.stop()


@pytest.fixture
async def gateway(tmp_path: Path, fakes: Any) -> AsyncIterator[Callable[..., Awaitable[Gateway]]]:
    started: list[Gateway] = []

    async def make(providers: list[ProviderConfig], *, policy: str = "cheapest",
                   directory: NodeDirectory | None = None, settings: GatewayOptions | None = None,
                   authenticator: Authenticator | None = None, governor: Governor | None = None,
                   max_body_bytes: int = 4 * 1024 * 1024) -> Gateway:
        cfg = CoordinatorConfig(http_host="127.0.0.1", http_port=0, grpc_host="127.0.0.1", grpc_port=0,
                                data_dir=tmp_path / f"coord{len(started)}", default_policy=policy, api_keys=[KEY],
                                providers=providers, max_body_bytes=max_body_bytes).validate()
        gov = governor if governor is not None else NoopGovernor()
        coord = gateway_coordinator(cfg, admin_key=ADMIN_KEY, directory=directory, authenticator=authenticator,
                                    governor=gov, settings=settings or GatewayOptions())
        sub = coord.gateway
        assert sub is not None
        await coord.start()
        client = AsyncOpenAI(base_url=coord.url + "/v1", api_key=KEY, max_retries=0, timeout=15)
        g = Gateway(coord, sub, client, gov)
        started.append(g)
        return g

    yield make
    for g in started:
        await g.client.close()
        await g.coord.stop()
