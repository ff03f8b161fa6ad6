"""langchain-openai's `ChatOpenAI` against a provider route and a node route: invoke, stream,
batch, `with_structured_output` (json_schema on both routes, function calling on both), and
`bind_tools` round trips on both (the node calls tools itself)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.messages import AIMessage, FunctionMessage, HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.clients.conftest import NODE, PROVIDER, ROUTES, Deployment
from tests.coordinator.gateway.helpers import KEY, MODEL

pytestmark = pytest.mark.asyncio(loop_scope="package")


class Reply(BaseModel):
    reply: str


class Weather(BaseModel):
    """Look up the weather in a city."""

    city: str


def _chat(d: Deployment, route: str) -> ChatOpenAI:
    return ChatOpenAI(model=MODEL, base_url=d.base_url, api_key=KEY, max_retries=0, timeout=15,  # type: ignore[arg-type]
                      default_headers={"x-shareai-route": route}, max_tokens=40)  # type: ignore[call-arg]


@pytest.mark.parametrize("route", ROUTES)
async def test_invoke_stream_and_batch(deployment: Deployment, route: str) -> None:
    llm = _chat(deployment, route)
    want = deployment.reply(route)
    answer = await asyncio.to_thread(llm.invoke, "hello")
    assert answer.content == want
    assert answer.response_metadata["finish_reason"] == "stop"
    assert answer.usage_metadata is not None and answer.usage_metadata["total_tokens"] > 0
    assert "".join([str(c.content) async for c in llm.astream("hello")]) == want
    batch = await asyncio.to_thread(llm.batch, ["one", "two", "three"])
    assert [m.content for m in batch] == [want] * 3
    assert [m.content for m in await llm.abatch(["four", "five"])] == [want] * 2


@pytest.mark.parametrize("route", ROUTES)
async def test_with_structured_output_json_schema(deployment: Deployment, route: str) -> None:
    structured = _chat(deployment, route).with_structured_output(Reply, method="json_schema")
    out = await structured.ainvoke("answer in JSON")
    assert isinstance(out, Reply)
    assert out.reply == ("x" if route == PROVIDER else deployment.reply(route))


async def test_with_structured_output_function_calling_on_a_provider(deployment: Deployment) -> None:
    structured = _chat(deployment, PROVIDER).with_structured_output(Weather, method="function_calling")
    assert await structured.ainvoke("weather in Paris?") == Weather(city="x")


async def test_bind_tools_round_trip_on_a_provider(deployment: Deployment) -> None:
    llm = _chat(deployment, PROVIDER).bind_tools([Weather])
    first = await llm.ainvoke([HumanMessage("weather in Paris?")])
    assert isinstance(first, AIMessage) and first.tool_calls
    call = first.tool_calls[0]
    assert (call["name"], call["args"]) == ("Weather", {"city": "x"})
    streamed: Any = None
    async for chunk in llm.astream([HumanMessage("weather in Paris?")]):
        streamed = chunk if streamed is None else streamed + chunk
    assert [(c["name"], c["args"]) for c in streamed.tool_calls] == [("Weather", {"city": "x"})]
    final = await llm.ainvoke([HumanMessage("weather in Paris?"), first,
                               ToolMessage("sunny", tool_call_id=str(call["id"]))])
    assert final.content == "The tool said: sunny"


async def test_a_legacy_function_message_is_accepted_on_a_provider(deployment: Deployment) -> None:
    """LangChain's FunctionMessage sends `role: "function"` (legacy, still in OpenAI's schema)."""
    llm = _chat(deployment, PROVIDER)
    answer = await llm.ainvoke([HumanMessage("weather?"), FunctionMessage("rainy", name="weather")])
    assert answer.content == "The tool said: rainy"
    assert deployment.provider.bodies[-1]["messages"][-1] == {"role": "function", "name": "weather",
                                                               "content": "rainy"}


async def test_bind_tools_round_trip_on_a_node(deployment: Deployment) -> None:
    """The node calls tools itself (grammar-constrained; the light backend fills the schema minimally)."""
    llm = _chat(deployment, NODE).bind_tools([Weather])
    first = await llm.ainvoke([HumanMessage("weather in Paris?")])
    assert isinstance(first, AIMessage) and first.tool_calls, first
    call = first.tool_calls[0]
    assert call["name"] == "Weather" and Weather.model_validate(call["args"]) is not None
    assert first.response_metadata["finish_reason"] == "tool_calls"
    streamed: Any = None
    async for chunk in llm.astream([HumanMessage("weather in Paris?")]):
        streamed = chunk if streamed is None else streamed + chunk
    assert [(c["name"], c["args"]) for c in streamed.tool_calls] == [(call["name"], call["args"])]
    final = await llm.ainvoke([HumanMessage("weather in Paris?"), first,
                               ToolMessage("sunny", tool_call_id=str(call["id"]))])
    assert isinstance(final.content, str) and final.content and not final.tool_calls


async def test_with_structured_output_function_calling_on_a_node(deployment: Deployment) -> None:
    structured = _chat(deployment, NODE).with_structured_output(Weather, method="function_calling")
    out = await structured.ainvoke("weather in Paris?")
    assert isinstance(out, Weather)
