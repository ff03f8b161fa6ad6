"""Tenant isolation on the real parts: a real coordinator (fleet, governance, gateway), orgs and keys
made through its admin API, real agents (fake backend) enrolled with the orgs' tokens, a fake
provider as a real HTTP server, and the `openai` SDK as the client.

The gateway's own policy tests run on stand-ins (`StaticDirectory`, `FixedAuthenticator`); these
prove the same promises hold with the real registry and governance behind the gateway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from shareai.agent.backends.fake import FakeBackend
from shareai.agent.control.enroll import enroll
from shareai.agent.control.node import NodeAgent
from shareai.agent.slots import ModelPool
from shareai.coordinator.app import Coordinator
from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import ProviderConfig, ProviderModel
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.testing.fake_provider import FakeProvider
from tests.agent.control.conftest import Source, agent_config, until
from tests.coordinator.fleet.conftest import ADMIN_KEY, make_config

MODEL = "m1"
MSG = [{"role": "user", "content": "the org's private data"}]


@dataclass
class Org:
    name: str
    key: str
    node_id: str
    backend: FakeBackend


@dataclass
class World:
    coord: Coordinator
    provider: FakeProvider
    a: Org  # an ordinary org
    b: Org  # a private org

    def client(self, org: Org) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.coord.url + "/v1", api_key=org.key, max_retries=0, timeout=20.0)


async def _admin(coord: Coordinator, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    async with aiohttp.ClientSession() as http, http.request(
            method, coord.url + path, json=body, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as resp:
        out = await resp.json()
        assert resp.status < 300, out
        return out


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with FakeProvider(model=MODEL, reply="from the provider") as provider:
        cfg = make_config(tmp_path / "coord")  # 5 s heartbeats: a loaded machine cannot make a node "offline"
        # The provider is free and the nodes are expensive: "cheapest" would pick the provider.
        cfg.providers = [ProviderConfig(name="provider-a", base_url=provider.base_url, api_keys=["pk-test"],
                                        models=[ProviderModel(MODEL, MODEL, 0.0, 0.0)])]
        coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
        await coord.start()
        agents: list[NodeAgent] = []
        try:
            orgs = []
            for name, private in (("org-a", False), ("org-b", True)):
                await _admin(coord, "POST", "/admin/v1/orgs", {"name": name, "private": private})
                key = (await _admin(coord, "POST", "/admin/v1/keys", {"org": name}))["secret"]
                token = (await _admin(coord, "POST", "/admin/v1/tokens", {"org": name}))["token"]
                ident = await enroll(coord.grpc_target, token, data_dir=tmp_path / name, name=f"rig-{name}",
                                     host=pb.HostInfo(hostname=name))
                backend = FakeBackend(reply=f"from the node of {name}")
                agent = NodeAgent(agent_config(price_input_per_mtok=9.0, price_output_per_mtok=9.0), ident,
                                  pools=[ModelPool(MODEL, [backend], queue_limit=4)],
                                  host_info=pb.HostInfo(hostname=name), utilisation=Source(), sample_period_s=3600.0)
                await agent.start()
                agents.append(agent)
                orgs.append(Org(name, key, ident.node_id, backend))
            directory = coord.fleet.directory
            for org in orgs:
                await until(lambda o=org: directory.routes_for(MODEL, o.name), what=f"{org.name}'s node")
            yield World(coord, provider, orgs[0], orgs[1])
        finally:
            for agent in agents:
                await agent.stop()
            await coord.stop(grace_s=1.0)


async def _ask(world: World, org: Org, route: str | None = None) -> tuple[str, str]:
    async with world.client(org) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=MODEL, messages=MSG, max_tokens=8, extra_headers={"x-shareai-route": route} if route else None)
        return str(raw.headers["x-shareai-route"]), raw.parse().choices[0].message.content or ""


async def _refusal(world: World, org: Org, route: str) -> tuple[int, str]:
    with pytest.raises(openai.APIStatusError) as err:
        await _ask(world, org, route)
    body = err.value.body
    assert isinstance(body, dict), body
    return err.value.status_code, str(body.get("message", body))


async def test_an_org_key_never_reaches_another_orgs_node(world: World) -> None:
    a, b = world.a, world.b
    # Org A's traffic, whatever it asks for, lands on A's node or the provider, never on B's node.
    assert await _ask(world, a, "node") == (f"node:{a.node_id}", "from the node of org-a")
    assert (await _ask(world, a))[0] == "provider-a"  # cheapest
    # Pinning B's node is refused exactly as pinning a node that does not exist.
    status, message = await _refusal(world, a, f"node:{b.node_id}")
    unknown_status, unknown_message = await _refusal(world, a, "node:node_000000000000")
    assert status == unknown_status == 400  # a permanent refusal (unknown_route), never a 503 to retry
    assert message.replace(b.node_id, "X") == unknown_message.replace("node_000000000000", "X")
    # Org A's model list comes from its own node and the provider only; B's node got nothing of A.
    b_generations = b.backend.generations
    for _ in range(5):
        assert (await _ask(world, a, "node"))[0] == f"node:{a.node_id}"
    assert b.backend.generations == b_generations == 0
    # And the other way round (B is private: only its own node).
    status, _ = await _refusal(world, b, f"node:{a.node_id}")
    assert status >= 400
    assert a.backend.generations == 6


async def test_a_private_orgs_request_never_goes_to_a_provider_even_when_pinned(world: World) -> None:
    b = world.b
    # The provider is cheaper, but the private org's requests stay on its own node.
    for _ in range(3):
        assert await _ask(world, b) == (f"node:{b.node_id}", "from the node of org-b")
    status, _ = await _refusal(world, b, "provider-a")
    assert status == 403
    status, _ = await _refusal(world, b, f"provider-a,node:{b.node_id}")
    assert status == 403
    # With its node out of routing, a private request fails rather than falling back to a provider.
    await _admin(world.coord, "POST", f"/admin/v1/nodes/{b.node_id}/drain")
    with pytest.raises(openai.APIStatusError) as err:
        await _ask(world, b)
    assert err.value.status_code == 503
    # Its own drained node pinned: it exists, it just cannot serve now (503); the same id pinned by
    # org A reads exactly like an id that does not exist (400), drained or not.
    status, _ = await _refusal(world, b, f"node:{b.node_id}")
    assert status == 503
    status, message = await _refusal(world, world.a, f"node:{b.node_id}")
    unknown_status, unknown_message = await _refusal(world, world.a, "node:node_000000000000")
    assert (status, message.replace(b.node_id, "X")) == (unknown_status,
                                                         unknown_message.replace("node_000000000000", "X"))
    assert status == 400
    assert world.provider.calls == 0  # nothing of B's ever reached it
