"""Which 400s move on: a target's "unsupported parameter/value" refusal fails over to the next
target; a genuine client error (invalid value, invalid schema, no code) passes through at once.
Real gateway, fake providers as real HTTP servers, the `openai` SDK."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.coordinator.gateway.helpers import MODEL, provider

MSG = [{"role": "user", "content": "hello"}]
TOOLS: list[Any] = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
SCHEMA_FORMAT: Any = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 12}}}


async def _two(fakes: Any, gateway: Any) -> tuple[Any, Any, Any]:
    a, b = await fakes(reply="from a"), await fakes(reply="from b")
    g = await gateway([provider("provider-a", a, price=(0, 0)), provider("provider-b", b, price=(1, 1))])
    return a, b, g


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("code", ["unsupported_parameter", "unsupported_value"])
async def test_an_unsupported_refusal_moves_on_to_the_next_target(fakes: Any, gateway: Any, code: str,
                                                                  stream: bool) -> None:
    a, b, g = await _two(fakes, gateway)
    a.fail_status, a.fail_error = 400, {"code": code, "param": "tools"}
    raw = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG, tools=TOOLS,
                                                                   stream=stream)
    if stream:
        text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
    else:
        text = raw.parse().choices[0].message.content
    assert text == "from b"
    assert raw.headers["x-shareai-route"] == "provider-b" and raw.headers["x-shareai-attempts"] == "2"
    assert (a.calls, b.calls) == (1, 1)
    assert b.bodies[0]["tools"] == TOOLS
    assert g.sub.metrics.attempts.get("provider-a", "unsupported") == 1


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("error", [
    {"code": "invalid_value", "param": "response_format.json_schema.schema"},  # an invalid JSON schema
    {"code": "invalid_type", "param": "tools"},
    {},  # no code at all: nothing says the target lacks a feature
])
async def test_a_genuine_client_error_passes_through_without_failover(fakes: Any, gateway: Any,
                                                                      error: dict[str, Any], stream: bool) -> None:
    a, b, g = await _two(fakes, gateway)
    a.fail_status, a.fail_error = 400, error
    with pytest.raises(openai.BadRequestError) as err:
        await g.client.chat.completions.create(model=MODEL, messages=MSG, response_format=SCHEMA_FORMAT,
                                               stream=stream)
    assert err.value.code == error.get("code") and err.value.param == error.get("param")
    assert err.value.response.headers["x-shareai-route"] == "provider-a"
    assert (a.calls, b.calls) == (1, 0)


async def test_when_every_target_refuses_the_client_gets_the_400_naming_the_param(fakes: Any, gateway: Any) -> None:
    a, b, g = await _two(fakes, gateway)
    for p in (a, b):
        p.fail_status, p.fail_error = 400, {"code": "unsupported_parameter", "param": "logit_bias"}
    with pytest.raises(openai.BadRequestError) as err:
        await g.client.chat.completions.create(model=MODEL, messages=MSG, logit_bias={"1": 5})
    assert err.value.code == "unsupported_parameter" and err.value.param == "logit_bias"
    assert err.value.response.headers["x-shareai-attempts"] == "2"
    assert (a.calls, b.calls) == (1, 1)
    assert g.records()[-1].status == 400


async def test_a_refusal_then_a_server_error_is_a_502(fakes: Any, gateway: Any) -> None:
    a, b, g = await _two(fakes, gateway)
    a.fail_status, a.fail_error = 400, {"code": "unsupported_parameter", "param": "tools"}
    b.fail_status = 500
    with pytest.raises(openai.APIStatusError) as err:
        await g.client.chat.completions.create(model=MODEL, messages=MSG, tools=TOOLS)
    assert err.value.status_code == 502
    assert "provider-a: unsupported: tools" in err.value.message


async def test_refusals_do_not_open_the_circuit(fakes: Any, gateway: Any) -> None:
    a, _b, g = await _two(fakes, gateway)
    a.fail_status, a.fail_error = 400, {"code": "unsupported_parameter", "param": "tools"}
    for _ in range(5):  # above the breaker threshold (3)
        raw = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG, tools=TOOLS)
        assert raw.headers["x-shareai-route"] == "provider-b"
    a.fail_status = None
    raw = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG)
    assert raw.headers["x-shareai-route"] == "provider-a" and raw.parse().choices[0].message.content == "from a"
