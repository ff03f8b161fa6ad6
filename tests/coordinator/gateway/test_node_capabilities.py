"""Requests a node cannot serve go where they can be served, through real processes: a real
coordinator (fleet, governance, gateway), a real agent (fake backend) enrolled and registered over
the real control plane, a fake provider as a real HTTP server, and the `openai` SDK.

- `prefer-nodes`: plain requests go to the node; `tools` (its model cannot call tools), `n: 2`,
  `logit_bias` go to the provider. (Nodes that call tools: tests/coordinator/test_node_tools.py.)
- `nodes-only`, a private org, or a pin on the node: 400 naming the parameter, nothing forwarded.
- An agent from before capabilities (registered with raw gRPC stubs, no `features`) keeps getting
  plain requests; what its validator refused still goes to the provider, and its own 400 for a
  parameter it turns down at run time (logprobs on a model without them) moves on to the provider.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import openai
import pytest
from openai import AsyncOpenAI

from shareai.agent.backends.fake import DEFAULT_REPLY, FakeBackend
from shareai.agent.control.enroll import enroll
from shareai.agent.control.node import NodeAgent
from shareai.agent.server import AgentServer
from shareai.agent.slots import ModelPool
from shareai.coordinator.app import Coordinator
from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import CoordinatorConfig, ProviderConfig, ProviderModel
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.proto.fleet.v1 import fleet_pb2_grpc as pb_grpc
from shareai.testing.fake_provider import FakeProvider
from tests.agent.control.conftest import make_agent, until

ADMIN_KEY = "sa-admin-test-key-capabilities"
MODEL = "m1"
MSG: list[Any] = [{"role": "user", "content": "hello"}]
TOOLS: list[Any] = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
PROVIDER_REPLY = "from the provider"
TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass
class Stack:
    coord: Coordinator
    provider: FakeProvider
    key: str

    async def admin(self, method: str, path: str, body: dict[str, Any]) -> Any:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as s, s.request(
                method, self.coord.url + path, json=body, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as r:
            assert r.status < 300, await r.text()
            return await r.json()

    async def token(self) -> str:
        return str((await self.admin("POST", "/admin/v1/tokens", {"org": "acme"}))["token"])

    def client(self, **headers: str) -> AsyncOpenAI:
        return AsyncOpenAI(base_url=self.coord.url + "/v1", api_key=self.key, max_retries=0, timeout=15,
                           default_headers=headers)

    def routable(self, node_id: str) -> bool:
        return any(r.node_id == node_id for r in self.coord.fleet.directory.routes_for(MODEL, "acme"))


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    provider = await FakeProvider(model=MODEL, reply=PROVIDER_REPLY, name="a").start()
    cfg = CoordinatorConfig(
        http_host="127.0.0.1", http_port=0, grpc_host="127.0.0.1", grpc_port=0, data_dir=tmp_path / "coord",
        # A long interval: the raw-stub "old agent" below sends no heartbeats, and must stay alive.
        heartbeat_interval_s=30.0,
        providers=[ProviderConfig(name="provider-a", base_url=provider.base_url, api_keys=["pk"],
                                  models=[ProviderModel(MODEL, MODEL, 1.0, 2.0)])],
    ).validate()
    coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
    await coord.start()
    try:
        s = Stack(coord, provider, "")
        await s.admin("POST", "/admin/v1/orgs", {"name": "acme", "policy": "prefer-nodes"})
        s.key = (await s.admin("POST", "/admin/v1/keys", {"org": "acme"}))["secret"]
        yield s
    finally:
        await coord.stop()
        await provider.stop()


@pytest.fixture
async def agent(stack: Stack, tmp_path: Path) -> AsyncIterator[tuple[NodeAgent, FakeBackend]]:
    """A current agent, enrolled and registered through the real control plane; its model cannot call
    tools (so it advertises none)."""
    ident = await enroll(stack.coord.grpc_target, await stack.token(), data_dir=tmp_path / "agent", name="rig",
                         host=pb.HostInfo(hostname="test-host"))
    backend = FakeBackend(supports_tools=False)
    node = make_agent(ident, pools=[ModelPool(MODEL, [backend], queue_limit=4)])
    await node.start()
    try:
        await until(lambda: stack.routable(ident.node_id), what="the node to be routable")
        yield node, backend
    finally:
        await node.stop()


def _node_statuses(server: AgentServer) -> dict[str, int]:
    """The statuses of the requests the node itself answered (its own request counter)."""
    out: dict[str, int] = {}
    for labels, count in server.metrics.requests.items():
        status = dict(labels)["status"]
        out[status] = out.get(status, 0) + count
    return out


async def _route(client: AsyncOpenAI, **kw: Any) -> tuple[str, str]:
    raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG, **kw)
    return raw.headers["x-shareai-route"], raw.parse().choices[0].message.content or ""


async def test_prefer_nodes_sends_what_the_node_cannot_serve_to_the_provider(
        stack: Stack, agent: tuple[NodeAgent, FakeBackend]) -> None:
    node, backend = agent
    on_node = f"node:{node.ident.node_id}"
    async with stack.client() as c:
        assert await _route(c) == (on_node, DEFAULT_REPLY)
        assert await _route(c, tools=TOOLS) == ("provider-a", PROVIDER_REPLY)
        assert await _route(c, n=2) == ("provider-a", PROVIDER_REPLY)
        assert await _route(c, logit_bias={"50256": -100}) == ("provider-a", PROVIDER_REPLY)
        stream = await c.chat.completions.with_raw_response.create(model=MODEL, messages=MSG, tools=TOOLS,
                                                                   stream=True)
        assert stream.headers["x-shareai-route"] == "provider-a"
        assert "".join([ch.choices[0].delta.content or "" async for ch in stream.parse() if ch.choices]) \
            == PROVIDER_REPLY
        assert await _route(c, temperature=0.2, max_tokens=50) == (on_node, DEFAULT_REPLY)
        image = [{"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                              {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]}]
        raw = await c.chat.completions.with_raw_response.create(model=MODEL, messages=image)
        assert raw.headers["x-shareai-route"] == "provider-a"
        assert await _route(c, modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"}) == (
            "provider-a", PROVIDER_REPLY)
        comp = await c.completions.with_raw_response.create(model=MODEL, prompt="say hi", suffix="!")
        assert comp.headers["x-shareai-route"] == "provider-a"
        comp = await c.completions.with_raw_response.create(model=MODEL, prompt="say hi", echo=True)
        assert comp.headers["x-shareai-route"] == on_node
    async with stack.client(**{"x-shareai-route": f"{on_node},provider-a"}) as c:  # a pinned list skips the node
        assert await _route(c, tools=TOOLS) == ("provider-a", PROVIDER_REPLY)
    assert backend.generations == 3  # only the plain requests reached the node ...
    assert _node_statuses(node.server) == {"200": 3}  # ... and nothing it had to refuse
    assert [("tools" in b, b.get("n"), "logit_bias" in b) for b in stack.provider.bodies] == [
        (True, None, False), (False, 2, False), (False, None, True), (True, None, False),
        (False, None, False), (False, None, False), (False, None, False), (True, None, False)]


async def test_nodes_only_private_and_pinned_requests_get_a_400_naming_the_param(
        stack: Stack, agent: tuple[NodeAgent, FakeBackend]) -> None:
    node, backend = agent
    on_node = f"node:{node.ident.node_id}"
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"tools": TOOLS}, "tools", "unsupported_parameter"),
        ({"n": 2}, "n", "unsupported_value"),
        ({"logit_bias": {"1": 2}}, "logit_bias", "unsupported_parameter"),
    ]
    for headers in ({"x-shareai-policy": "nodes-only"}, {"x-shareai-route": on_node}):
        async with stack.client(**headers) as c:
            for kw, param, code in cases:
                with pytest.raises(openai.BadRequestError) as err:
                    await c.chat.completions.create(model=MODEL, messages=MSG, **kw)
                assert (err.value.param, err.value.code) == (param, code), headers
                assert "Unsupported parameter" in err.value.message
            assert await _route(c) == (on_node, DEFAULT_REPLY)
    await stack.admin("POST", "/admin/v1/orgs/acme", {"private": True})
    async with stack.client(**{"x-shareai-policy": "prefer-nodes"}) as c:  # private wins over the header
        with pytest.raises(openai.BadRequestError) as err:
            await c.chat.completions.create(model=MODEL, messages=MSG, tools=TOOLS)
        assert (err.value.param, err.value.code) == ("tools", "unsupported_parameter")
        assert await _route(c) == (on_node, DEFAULT_REPLY)
    assert stack.provider.calls == 0 and backend.generations == 3
    assert _node_statuses(node.server) == {"200": 3}  # refused at the gateway, never sent to the node


async def test_an_old_agent_without_capabilities_keeps_getting_plain_requests(stack: Stack) -> None:
    backend = FakeBackend(supports_logprobs=False)
    server = AgentServer([ModelPool(MODEL, [backend], queue_limit=4)])
    port = await server.start("127.0.0.1", 0)
    channel = grpc.aio.insecure_channel(stack.coord.grpc_target)
    try:
        stub = pb_grpc.FleetStub(channel)
        ident = await stub.Enroll(pb.EnrollRequest(token=await stack.token(), name="old-rig"), timeout=5)
        creds = (("authorization", f"Bearer {ident.node_secret}"), ("x-shareai-node-id", ident.node_id))
        # Exactly what agents before capabilities sent: no `features` on the model.
        old = pb.RegisterRequest(
            node_id=ident.node_id, name="old-rig", host=pb.HostInfo(hostname="old"),
            models=[pb.ModelInfo(name=MODEL, slots=1, n_ctx=2048, queue_limit=4,
                                 endpoints=["chat.completions", "completions"])],
            endpoint_url=f"http://127.0.0.1:{port}/v1", mode=pb.AVAILABILITY_MODE_ALWAYS_ON,
            state=pb.AVAILABILITY_STATE_AVAILABLE)
        reply = await stub.Register(old, metadata=creds, timeout=5)
        server.set_data_plane_secret(reply.data_plane_secret)
        await until(lambda: stack.routable(ident.node_id), what="the old node to be routable")
        on_node = f"node:{ident.node_id}"
        async with stack.client() as c:
            assert await _route(c) == (on_node, DEFAULT_REPLY)
            assert (await _route(c, response_format={"type": "json_object"}))[0] == on_node  # legacy: JSON mode
            assert await _route(c, tools=TOOLS) == ("provider-a", PROVIDER_REPLY)
            assert await _route(c, n=2) == ("provider-a", PROVIDER_REPLY)
            # Old agents accepted logprobs in validation but this model has none: the node's own 400
            # (`unsupported_parameter`, param `logprobs`) moves the request on to the provider.
            raw = await c.chat.completions.with_raw_response.create(model=MODEL, messages=MSG, logprobs=True)
            assert raw.headers["x-shareai-route"] == "provider-a" and raw.headers["x-shareai-attempts"] == "2"
            comp = await c.completions.with_raw_response.create(model=MODEL, prompt="say hi", max_tokens=5)
            assert comp.headers["x-shareai-route"] == on_node
        async with stack.client(**{"x-shareai-policy": "nodes-only"}) as c:
            with pytest.raises(openai.BadRequestError) as err:
                await c.chat.completions.create(model=MODEL, messages=MSG, tools=TOOLS)
            assert (err.value.param, err.value.code) == ("tools", "unsupported_parameter")
        assert backend.generations == 3
        assert _node_statuses(server) == {"200": 3, "400": 1}  # the logprobs request it turned down
        assert stack.provider.calls == 3
    finally:
        await channel.close()
        await server.stop()
