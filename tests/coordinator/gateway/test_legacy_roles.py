"""`role: "function"` (legacy, in OpenAI's schema; LangChain's FunctionMessage) is forwarded to
providers; a node refuses it as unsupported, so the gateway routes around the node, and where only
the node may serve, answers the 400 itself without forwarding (issue 17)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest

from shareai.agent.backends.fake import FakeBackend
from shareai.agent.server import AgentServer, ModelPool
from shareai.wire.capabilities import CHAT, COMPLETIONS, node_features
from tests.coordinator.gateway.helpers import MODEL, StaticDirectory, node_route, provider

FUNCTION_TURN: list[Any] = [
    {"role": "user", "content": "what is 6 x 7?"},
    {"role": "assistant", "content": None, "function_call": {"name": "mul", "arguments": "{\"a\":6,\"b\":7}"}},
    {"role": "function", "name": "mul", "content": "42"},
]


@pytest.fixture
async def node() -> AsyncIterator[tuple[FakeBackend, str]]:
    backend = FakeBackend(reply="from the node")
    server = AgentServer([ModelPool(MODEL, [backend])])
    server.set_data_plane_secret("ns_secret")
    port = await server.start()
    yield backend, f"http://127.0.0.1:{port}/v1"
    await server.stop()


async def test_function_messages_go_around_a_node_that_cannot_run_them(node: Any, fakes: Any,
                                                                      gateway: Any) -> None:
    backend, url = node
    # A current agent advertises what its strict validator accepts; an old one advertises nothing.
    current = dataclasses.replace(node_route("n1", url), features={CHAT: node_features(CHAT),
                                                                   COMPLETIONS: node_features(COMPLETIONS)})
    up = await fakes()
    g = await gateway([provider("provider-a", up, price=(9.0, 9.0))], policy="prefer-nodes",
                      directory=StaticDirectory([current]))
    raw = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=FUNCTION_TURN)
    assert raw.headers["x-shareai-route"] == "provider-a" and raw.headers["x-shareai-attempts"] == "1"
    assert up.bodies[-1]["messages"] == FUNCTION_TURN
    plain = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=FUNCTION_TURN[:1])
    assert plain.headers["x-shareai-route"] == "node:n1"
    for headers in ({"x-shareai-route": "node:n1"}, {"x-shareai-policy": "nodes-only"}):
        with pytest.raises(openai.BadRequestError) as err:
            await g.client.chat.completions.create(model=MODEL, messages=FUNCTION_TURN, extra_headers=headers)
        assert (err.value.code, err.value.param) == ("unsupported_value", "messages[1]")
    assert backend.generations == 1  # only the plain request reached the node
    # The node itself, asked directly, refuses with the code that makes a gateway move on.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s, s.post(
            url + "/chat/completions", json={"model": MODEL, "messages": FUNCTION_TURN},
            headers={"Authorization": "Bearer ns_secret"}) as r:
        assert r.status == 400
        assert (await r.json())["error"]["code"] == "unsupported_value"
