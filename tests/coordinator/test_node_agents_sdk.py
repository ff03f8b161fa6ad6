"""openai-agents' function tools against a node route: the agent calls the tool on the node, runs
it, sends the result back and gets the node's answer (light backend: deterministic), whole and
streamed; and on the bundled model through llama.cpp, a forced call the SDK parses and runs."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, RunConfig, Runner, function_tool

from shareai.agent.backends.fake import FakeBackend
from shareai.agent.backends.llama import LlamaBackend
from shareai.agent.slots import ModelPool
from tests.coordinator.node_world import node_world

CALLS: list[str] = []


@function_tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    CALLS.append(city)
    return f"It is 18C and sunny in {city}."


def _agent(client: openai.AsyncOpenAI, model: str, **settings: object) -> Agent:
    return Agent(name="weather", instructions="Answer questions about the weather; use the tool.",
                 tools=[get_weather], model=OpenAIChatCompletionsModel(model=model, openai_client=client),
                 model_settings=ModelSettings(**settings),  # type: ignore[arg-type]
                 tool_use_behavior="run_llm_again")


# Never export traces (the SDK would call api.openai.com); the only route is the node.
RUN = RunConfig(tracing_disabled=True)


async def test_an_agent_run_with_a_function_tool_on_a_node(tmp_path: Path) -> None:
    backend = FakeBackend(reply="The weather is fine.")
    async with node_world(tmp_path, [ModelPool("chat", [backend], queue_limit=4)]) as world, \
            world.client() as client:
        CALLS.clear()
        result = await Runner.run(_agent(client, "chat"), "What's the weather in Paris?", run_config=RUN,
                                  max_turns=4)
        assert result.final_output == "The weather is fine."
        assert CALLS == ["x"]  # the light backend's smallest valid argument
        assert backend.generations == 2  # the call, then the answer after the tool's result
        CALLS.clear()
        streamed = Runner.run_streamed(_agent(client, "chat"), "And in Rome?", run_config=RUN, max_turns=4)
        kinds = [event.type async for event in streamed.stream_events()]
        assert streamed.final_output == "The weather is fine." and CALLS == ["x"]
        assert "raw_response_event" in kinds and "run_item_stream_event" in kinds


@pytest.mark.llama
async def test_an_agent_run_on_the_bundled_model(tmp_path: Path, model_path: Path) -> None:
    backend = LlamaBackend.load(model_path, chat_format="gemma", n_ctx=1024, n_gpu_layers=0)
    async with node_world(tmp_path, [ModelPool("gemma", [backend], queue_limit=4)]) as world, \
            world.client() as client:
        CALLS.clear()
        agent = _agent(client, "gemma", tool_choice="required", parallel_tool_calls=False, max_tokens=60,
                       temperature=0.0).clone(tool_use_behavior="stop_on_first_tool")
        result = await Runner.run(agent, "What's the weather in Paris?", run_config=RUN, max_turns=2)
        # The SDK parsed the node's call, validated its arguments against the tool's schema and ran it.
        assert len(CALLS) == 1 and isinstance(CALLS[0], str)
        assert result.final_output == f"It is 18C and sunny in {CALLS[0]}."
