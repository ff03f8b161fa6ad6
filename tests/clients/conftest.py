"""One deployment for the whole client matrix: a real coordinator (gateway) over a fake provider
(a real HTTP server that answers tool calls and JSON schemas deterministically) and two real node
agents on the light backend (one free, one with a single slot that is always slow: the busy node).

Each client library is pointed at it the way a user would (`base_url`, an API key) and pinned to
one route with `x-shareai-route`, so every case runs once per route.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import pytest_asyncio

from shareai.agent.backends.fake import FakeBackend
from shareai.agent.server import AgentServer, ModelPool
from shareai.coordinator.app import Coordinator
from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.gateway.fallbacks import NoopGovernor
from shareai.testing.fake_provider import FakeProvider
from shareai.wire.capabilities import CHAT, COMPLETIONS, node_features
from tests.coordinator.gateway.helpers import ADMIN_KEY, KEY, MODEL, StaticDirectory, node_route, provider
from tests.coordinator.parts import gateway_coordinator

PROVIDER = "provider-a"
NODE = "node:n1"
BUSY_NODE = "node:busy"
PROVIDER_REPLY = "Hello from the provider"
NODE_REPLY = "Hello from the node"
ROUTES = [PROVIDER, NODE]


@dataclass
class Deployment:
    coord: Coordinator
    provider: FakeProvider
    node: FakeBackend

    @property
    def base_url(self) -> str:
        return self.coord.url + "/v1"

    @staticmethod
    def reply(route: str) -> str:
        return PROVIDER_REPLY if route == PROVIDER else NODE_REPLY


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def deployment(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    up = await FakeProvider(model=MODEL, reply=PROVIDER_REPLY, name="provider-a").start()
    up.answer_tools = True
    backend = FakeBackend(reply=NODE_REPLY)
    node = AgentServer([ModelPool(MODEL, [backend], queue_limit=4)])
    busy = AgentServer([ModelPool(MODEL, [FakeBackend(reply="slow " * 20, token_delay_s=0.1)], queue_limit=1,
                                  retry_after_s=3.0)])
    servers = [node, busy]
    urls = []
    for server in servers:
        server.set_data_plane_secret("ns_secret")
        urls.append(f"http://127.0.0.1:{await server.start()}/v1")
    # n1 advertises what a current agent does (tool calls included); without `features` a route counts as a
    # pre-capabilities agent.
    n1 = replace(node_route("n1", urls[0]), features={e: node_features(e) for e in (CHAT, COMPLETIONS)})
    directory = StaticDirectory([n1, node_route("busy", urls[1])])
    data_dir: Path = tmp_path_factory.mktemp("clients")
    cfg = CoordinatorConfig(http_host="127.0.0.1", http_port=0, grpc_host="127.0.0.1", grpc_port=0,
                            data_dir=data_dir, api_keys=[KEY], providers=[provider(PROVIDER, up)]).validate()
    coord = gateway_coordinator(cfg, admin_key=ADMIN_KEY, directory=directory, governor=NoopGovernor())
    await coord.start()
    try:
        yield Deployment(coord, up, backend)
    finally:
        await coord.stop()
        for server in servers:
            await server.stop()
        await up.stop()
