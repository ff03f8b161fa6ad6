"""What real clients send and JSON Schema allows: whole numbers written as floats, every role of
OpenAI's schema (issue 17)."""

from __future__ import annotations

from typing import Any

import pytest

from shareai.wire import capabilities as caps
from shareai.wire.errors import InvalidRequest
from shareai.wire.validation import (
    ROLES,
    as_integer,
    parse_chat_request,
    parse_completion_request,
    whole_numbers,
)

USER = {"role": "user", "content": "hi"}
FUNCTION_TURN: list[dict[str, Any]] = [
    USER,
    {"role": "assistant", "content": None, "function_call": {"name": "lookup", "arguments": "{}"}},
    {"role": "function", "name": "lookup", "content": "42"},
]


def chat(**overrides: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [USER], **overrides}


def test_as_integer_follows_json_schema() -> None:
    assert [as_integer(v) for v in (4, 4.0, -2.0, 0.0)] == [4, 4, -2, 0]
    assert [as_integer(v) for v in (4.5, True, "4", None, float("inf"), float("nan"))] == [None] * 6


@pytest.mark.parametrize("strict", [True, False])
def test_whole_floats_are_integers_in_chat(strict: bool) -> None:
    req = parse_chat_request(chat(max_tokens=4.0, max_completion_tokens=3.0, seed=7.0, n=1.0, logprobs=True,
                                  top_logprobs=2.0), strict=strict)
    assert (req.sampling.max_tokens, req.sampling.seed, req.n, req.top_logprobs) == (3, 7, 1, 2)
    assert all(type(v) is int for v in (req.sampling.max_tokens, req.sampling.seed, req.n, req.top_logprobs))


def test_whole_floats_are_integers_in_completions() -> None:
    req = parse_completion_request({"model": "m", "prompt": "p", "max_tokens": 5.0, "logprobs": 2.0, "n": 1.0})
    assert (req.sampling.max_tokens, req.logprobs, req.n) == (5, 2, 1)
    assert type(req.logprobs) is int


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens", "seed", "n", "top_logprobs"])
def test_fractions_are_a_400_naming_the_param(param: str) -> None:
    body = chat(**{param: 4.5}, logprobs=True)
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(body, strict=False)
    assert (info.value.param, info.value.code, info.value.status) == (param, "invalid_type", 400)


def test_a_strict_node_still_refuses_n_2_written_as_a_float() -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(chat(n=2.0))
    assert (info.value.param, info.value.code) == ("n", "unsupported_value")
    assert caps.N_MANY in {n.feature for n in caps.request_needs(caps.CHAT, chat(n=2.0))}


def test_whole_numbers_rewrites_only_whole_floats_of_integer_params() -> None:
    body = chat(max_tokens=4.0, temperature=1.0, seed=3, n=1.0, top_logprobs=0.0)
    out = whole_numbers(body, "chat.completions")
    assert out == {**body, "max_tokens": 4, "n": 1, "top_logprobs": 0}
    assert type(out["max_tokens"]) is int and type(out["temperature"]) is float  # a number param stays as sent
    assert body["max_tokens"] == 4.0 and type(body["max_tokens"]) is float  # the caller's dict is untouched
    plain = chat(max_tokens=4)
    assert whole_numbers(plain, "chat.completions") is plain
    assert whole_numbers({"model": "m", "prompt": "p", "logprobs": 1.0, "best_of": 2.0}, "completions") == {
        "model": "m", "prompt": "p", "logprobs": 1, "best_of": 2}
    assert whole_numbers({"model": "e", "input": "x", "dimensions": 8.0}, "embeddings")["dimensions"] == 8


def test_every_role_of_the_openai_schema_is_accepted_by_the_gateway() -> None:
    assert {"system", "developer", "user", "assistant", "tool", "function"} <= ROLES
    req = parse_chat_request(chat(messages=FUNCTION_TURN), strict=False)
    assert [m.role for m in req.messages] == ["user", "assistant", "function"]
    assert req.messages[2].name == "lookup"
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(chat(messages=[{"role": "robot", "content": "x"}]), strict=False)
    assert info.value.param == "messages[0].role"


@pytest.mark.parametrize("messages", [
    FUNCTION_TURN,
    [USER, {"role": "function", "name": "f", "content": "1"}],
    [USER, {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}}],
])
def test_a_node_refuses_function_messages_as_unsupported_so_the_gateway_routes_around_it(
        messages: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(chat(messages=messages), strict=True)
    assert info.value.code == "unsupported_value" and info.value.param is not None
    assert info.value.param.startswith("messages[")
    body = chat(messages=messages)
    needs = caps.request_needs(caps.CHAT, body)
    assert caps.MESSAGES_FUNCTION in {n.feature for n in needs}
    # What the node advertises is what its validator accepts: function messages are not in it.
    unmet = caps.first_unmet(needs, caps.node_features(caps.CHAT))
    assert unmet is not None and unmet.feature == caps.MESSAGES_FUNCTION
    assert caps.MESSAGES_FUNCTION not in caps.LEGACY_FEATURES[caps.CHAT]
