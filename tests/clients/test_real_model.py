"""The clients against a node running the real llama.cpp runtime on the bundled model, where the
answer's shape depends on the model: structured outputs constrained by the JSON schema's grammar
(`openai` `.parse`, langchain's `with_structured_output`), a stream, an openai-agents run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import pytest_asyncio
from agents import Agent, ModelSettings, OpenAIChatCompletionsModel, Runner, set_tracing_disabled
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from shareai.agent.backends.llama import LlamaBackend
from shareai.agent.server import AgentServer, ModelPool
from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.gateway.fallbacks import NoopGovernor
from tests.coordinator.gateway.helpers import ADMIN_KEY, KEY, StaticDirectory, node_route
from tests.coordinator.parts import gateway_coordinator

pytestmark = [pytest.mark.llama, pytest.mark.asyncio(loop_scope="module")]
set_tracing_disabled(True)  # the SDK would otherwise export traces to OpenAI's servers
NAME = "gemma-3-270m"
MSG: list[Any] = [{"role": "user", "content": "Give a colour and a number."}]


class Pick(BaseModel):
    colour: str
    number: int


@pytest.fixture(scope="module")
def backend(model_path: Path) -> Iterator[LlamaBackend]:
    loaded = LlamaBackend.load(model_path, chat_format="gemma", n_ctx=512, n_gpu_layers=0)
    yield loaded
    loaded.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def base_url(backend: LlamaBackend, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    server = AgentServer([ModelPool(NAME, [backend], queue_limit=8)])
    server.set_data_plane_secret("ns_secret")
    port = await server.start()
    cfg = CoordinatorConfig(http_host="127.0.0.1", http_port=0, grpc_host="127.0.0.1", grpc_port=0,
                            data_dir=tmp_path_factory.mktemp("real"), api_keys=[KEY]).validate()
    coord = gateway_coordinator(cfg, admin_key=ADMIN_KEY, governor=NoopGovernor(),
                                directory=StaticDirectory([node_route("n1", f"http://127.0.0.1:{port}/v1",
                                                                      model=NAME)]))
    await coord.start()
    try:
        yield coord.url + "/v1"
    finally:
        await coord.stop()
        await server.stop(close_models=False)


def _client(base_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=60,
                              default_headers={"x-shareai-route": "node:n1"})


async def test_sdk_parse_gets_a_schema_valid_object(base_url: str) -> None:
    async with _client(base_url) as client:
        out = await client.chat.completions.parse(model=NAME, messages=MSG, response_format=Pick, max_tokens=48,
                                                  temperature=0)
    choice = out.choices[0]
    assert choice.finish_reason == "stop", choice  # the grammar closed the object within the cap
    assert isinstance(choice.message.parsed, Pick)
    assert choice.message.refusal is None and out.model == NAME


async def test_sdk_stream_and_raw_headers(base_url: str) -> None:
    async with _client(base_url) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model=NAME, messages=MSG, max_tokens=8, stream=True, stream_options={"include_usage": True})
        assert raw.headers["x-shareai-route"] == "node:n1"
        chunks = [c async for c in raw.parse()]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None and 0 < chunks[-1].usage.completion_tokens <= 8


async def test_langchain_structured_output(base_url: str) -> None:
    llm = ChatOpenAI(model=NAME, base_url=base_url, api_key=KEY, max_retries=0, timeout=60,  # type: ignore[arg-type]
                     default_headers={"x-shareai-route": "node:n1"}, max_tokens=48, temperature=0)  # type: ignore[call-arg]
    out = await llm.with_structured_output(Pick, method="json_schema").ainvoke("Give a colour and a number.")
    assert isinstance(out, Pick)


async def test_openai_agents_run(base_url: str) -> None:
    async with _client(base_url) as client:
        agent = Agent(name="assistant", instructions="Answer in one word.",
                      model=OpenAIChatCompletionsModel(model=NAME, openai_client=client),
                      model_settings=ModelSettings(max_tokens=8, temperature=0))
        result = await Runner.run(agent, "Name a colour.")
    assert isinstance(result.final_output, str) and result.final_output.strip()
