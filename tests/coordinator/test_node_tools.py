"""The gateway sends tool calls and embeddings to nodes that advertise them (light backend, real
coordinator, real agent, the `openai` SDK), and keeps them away from nodes that do not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest

from shareai.agent.backends.fake import FakeBackend
from shareai.agent.slots import ModelPool
from shareai.coordinator.config import ProviderConfig, ProviderModel
from shareai.testing.fake_provider import FakeProvider
from tests.coordinator.node_world import node_world

WEATHER: Any = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ASK: Any = [{"role": "user", "content": "Weather in Paris?"}]


BACKENDS: dict[str, FakeBackend] = {}


def _pool(name: str, **backend: Any) -> ModelPool:
    BACKENDS[name] = FakeBackend(**backend)
    return ModelPool(name, [BACKENDS[name]], queue_limit=4)


async def test_tool_requests_and_embeddings_go_to_the_node_that_serves_them(tmp_path: Path) -> None:
    async with FakeProvider(model="chat", reply="from the provider") as provider:
        # The provider is free and the node expensive: only capability sends work to the node.
        providers = [ProviderConfig(name="prov", base_url=provider.base_url, api_keys=["pk"], models=[
            ProviderModel("chat", "chat"), ProviderModel("plain", "plain"),
            ProviderModel("embed", "embed", embeddings=True)])]
        pools = [_pool("chat"), _pool("plain", supports_tools=False), _pool("embed", embeddings=True)]
        async with node_world(tmp_path, pools, providers) as world, world.client() as c:
            raw = await c.chat.completions.with_raw_response.create(
                model="chat", messages=ASK, tools=[WEATHER], extra_headers={"x-shareai-route": "node"})
            assert raw.headers["x-shareai-route"] == world.node_route
            r = raw.parse()
            assert r.choices[0].finish_reason == "tool_calls"
            (call,) = r.choices[0].message.tool_calls or []
            assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "x"}
            # Unpinned, `prefer-nodes` sends tools to the node now that it advertises them.
            raw = await c.chat.completions.with_raw_response.create(
                model="chat", messages=ASK, tools=[WEATHER], extra_headers={"x-shareai-policy": "prefer-nodes"})
            assert raw.headers["x-shareai-route"] == world.node_route
            assert raw.parse().choices[0].finish_reason == "tool_calls"
            # Pinned to the nodes, a model whose node cannot call tools is a clean 400, not a node's error.
            with pytest.raises(openai.BadRequestError) as err:
                await c.chat.completions.create(model="plain", messages=ASK, tools=[WEATHER],
                                                extra_headers={"x-shareai-route": "node"})
            assert err.value.param == "tools"
            # Unpinned, it goes to the provider; the node got no generation for it.
            raw = await c.chat.completions.with_raw_response.create(model="plain", messages=ASK, tools=[WEATHER])
            assert raw.headers["x-shareai-route"] == "prov"
            assert BACKENDS["plain"].generations == 0
            # Embeddings: the node's embedding model serves them when pinned, the provider otherwise.
            raw_e = await c.embeddings.with_raw_response.create(model="embed", input=["a b", "c"],
                                                               extra_headers={"x-shareai-route": "node"})
            assert raw_e.headers["x-shareai-route"] == world.node_route
            e = raw_e.parse()
            assert len(e.data) == 2 and len(e.data[0].embedding) == 8 and e.usage.prompt_tokens == 3
            # A chat model on the node is never sent embeddings, nor the embedding model chat.
            with pytest.raises(openai.APIStatusError) as err2:
                await c.embeddings.create(model="chat", input="x", extra_headers={"x-shareai-route": "node"})
            assert err2.value.status_code in (400, 404, 503)
            with pytest.raises(openai.APIStatusError):
                await c.chat.completions.create(model="embed", messages=ASK, extra_headers={"x-shareai-route": "node"})
            assert BACKENDS["chat"].generations == 2 and BACKENDS["embed"].generations == 1
