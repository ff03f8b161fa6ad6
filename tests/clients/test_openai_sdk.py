"""The official `openai` SDK against a provider route and a node route: sync, async, streaming,
structured outputs (`.parse` with a pydantic model), raw headers, and the error classes it raises
(RateLimitError from a busy node, AuthenticationError, NotFoundError, BadRequestError)."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.clients.conftest import BUSY_NODE, PROVIDER, ROUTES, Deployment
from tests.coordinator.gateway.helpers import KEY, MODEL

pytestmark = pytest.mark.asyncio(loop_scope="package")
MSG: list[Any] = [{"role": "user", "content": "hello"}]


class Reply(BaseModel):
    """The light backend's JSON answer is {"reply": ...}; the fake provider fills the schema."""

    reply: str


def _async(d: Deployment, route: str, **kw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=d.base_url, api_key=kw.pop("api_key", KEY), max_retries=0, timeout=15,
                              default_headers={"x-shareai-route": route})


@pytest.mark.parametrize("route", ROUTES)
async def test_sync_client_in_a_thread(deployment: Deployment, route: str) -> None:
    def call() -> tuple[str | None, str]:
        with openai.OpenAI(base_url=deployment.base_url, api_key=KEY, max_retries=0, timeout=15,
                           default_headers={"x-shareai-route": route}) as client:
            raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG, max_tokens=20)
            return raw.parse().choices[0].message.content, raw.headers["x-shareai-route"]

    assert await asyncio.to_thread(call) == (deployment.reply(route), route)


@pytest.mark.parametrize("route", ROUTES)
async def test_async_client_answer_and_raw_headers(deployment: Deployment, route: str) -> None:
    async with _async(deployment, route) as client:
        raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG, max_tokens=20)
        out = raw.parse()
        assert out.choices[0].message.content == deployment.reply(route)
        assert out.model == MODEL and out.choices[0].finish_reason == "stop"
        assert out.usage is not None and out.usage.total_tokens > 0
        assert raw.headers["x-shareai-route"] == route and raw.headers["x-shareai-attempts"] == "1"
        assert float(raw.headers["x-shareai-cost-usd"]) >= 0
        comp = await client.completions.create(model=MODEL, prompt="say hi", max_tokens=20)
        assert comp.choices[0].text.strip()


@pytest.mark.parametrize("route", ROUTES)
async def test_streaming_with_usage(deployment: Deployment, route: str) -> None:
    async with _async(deployment, route) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=MSG, max_tokens=20, stream=True,
                                                      stream_options={"include_usage": True})
        chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == deployment.reply(route)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("route", ROUTES)
async def test_parse_with_a_pydantic_model(deployment: Deployment, route: str) -> None:
    async with _async(deployment, route) as client:
        out = await client.chat.completions.parse(model=MODEL, messages=MSG, response_format=Reply, max_tokens=50)
    parsed = out.choices[0].message.parsed
    assert isinstance(parsed, Reply)
    assert parsed.reply == ("x" if route == PROVIDER else deployment.reply(route))


@pytest.mark.parametrize("route", ROUTES)
async def test_error_classes(deployment: Deployment, route: str) -> None:
    async with _async(deployment, route, api_key="sk-wrong") as client:
        with pytest.raises(openai.AuthenticationError):
            await client.chat.completions.create(model=MODEL, messages=MSG)
    async with _async(deployment, route) as client:
        with pytest.raises(openai.NotFoundError) as missing:
            await client.chat.completions.create(model="no-such-model", messages=MSG)
        assert missing.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError) as bad:
            await client.chat.completions.create(model=MODEL, messages=MSG, max_tokens=4.5)  # type: ignore[arg-type]
        assert bad.value.param == "max_tokens"
        # Whole numbers written as floats are integers (JSON Schema), on both routes.
        out = await client.chat.completions.create(model=MODEL, messages=MSG, max_tokens=20.0)  # type: ignore[arg-type]
        assert out.choices[0].message.content == deployment.reply(route)


async def test_a_busy_node_raises_rate_limit_error(deployment: Deployment) -> None:
    async with _async(deployment, BUSY_NODE) as client:
        async def one() -> BaseException | None:
            try:
                await client.chat.completions.create(model=MODEL, messages=MSG)
            except openai.APIError as exc:
                return exc
            return None

        outcomes = await asyncio.gather(*(one() for _ in range(6)))
    errors = [o for o in outcomes if o is not None]
    assert errors and all(isinstance(e, openai.RateLimitError) for e in errors), errors
    assert {e.response.headers["retry-after"] for e in errors if isinstance(e, openai.RateLimitError)} == {"3"}
