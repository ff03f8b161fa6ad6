"""openai-agents: a `Runner` run with a function tool through the gateway (provider route: node-side
tools come with the node's tool calling), and a plain run on the node route."""

from __future__ import annotations

import pytest
from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

from tests.clients.conftest import NODE, PROVIDER, Deployment
from tests.coordinator.gateway.helpers import KEY, MODEL

pytestmark = pytest.mark.asyncio(loop_scope="package")
set_tracing_disabled(True)  # the SDK would otherwise export traces to OpenAI's servers

CALLS: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    CALLS.append(city)
    return f"sunny in {city}"


def _agent(d: Deployment, route: str, client: AsyncOpenAI, *, tools: bool) -> Agent:
    return Agent(name="assistant", instructions="Answer briefly.", tools=[get_weather] if tools else [],
                 model=OpenAIChatCompletionsModel(model=MODEL, openai_client=client))


def _client(d: Deployment, route: str) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=d.base_url, api_key=KEY, max_retries=0, timeout=15,
                       default_headers={"x-shareai-route": route})


async def test_a_run_with_a_function_tool_on_a_provider(deployment: Deployment) -> None:
    CALLS.clear()
    async with _client(deployment, PROVIDER) as client:
        result = await Runner.run(_agent(deployment, PROVIDER, client, tools=True), "What is the weather in Paris?")
    assert CALLS == ["x"]  # the (fake) model chose the tool, the SDK ran it ...
    assert result.final_output == "The tool said: sunny in x"  # ... and sent its result back
    roles = [m.get("role") for m in deployment.provider.bodies[-1]["messages"]]
    assert roles[-2:] == ["assistant", "tool"]


async def test_a_plain_run_on_a_node(deployment: Deployment) -> None:
    async with _client(deployment, NODE) as client:
        result = await Runner.run(_agent(deployment, NODE, client, tools=False), "Say hello.")
    assert result.final_output == deployment.reply(NODE)
