from __future__ import annotations

from typing import Any

import pytest

from shareai.wire.errors import InvalidRequest
from shareai.wire.validation import parse_chat_request, parse_completion_request


def chat(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    body.update(overrides)
    return body


def test_minimal_chat_request_parses_with_defaults() -> None:
    req = parse_chat_request(chat())
    assert req.model == "m"
    assert [(m.role, m.content) for m in req.messages] == [("user", "hi")]
    assert req.stream is False and req.include_usage is False and req.n == 1
    assert req.sampling.max_tokens is None and req.sampling.stop == []


def test_text_content_parts_are_joined() -> None:
    req = parse_chat_request(chat(messages=[{"role": "user", "content": [
        {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]))
    assert req.messages[0].content == "ab"


def test_sampling_fields_and_max_completion_tokens() -> None:
    req = parse_chat_request(chat(temperature=0, top_p=0.5, max_tokens=30, max_completion_tokens=20,
                                  stop="END", seed=7, presence_penalty=1, frequency_penalty=-1))
    s = req.sampling
    assert (s.temperature, s.top_p, s.max_tokens, s.stop, s.seed) == (0.0, 0.5, 20, ["END"], 7)
    assert (s.presence_penalty, s.frequency_penalty) == (1.0, -1.0)


def test_stream_options_include_usage() -> None:
    req = parse_chat_request(chat(stream=True, stream_options={"include_usage": True}))
    assert req.stream and req.include_usage


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"model": None}, "model"),
        ({"model": 3}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": 3}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"stop": 5}, "stop"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"seed": "x"}, "seed"),
        ({"stream": "yes"}, "stream"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"n": 2}, "n"),
        ({"tools": [{"type": "function"}]}, "tools[0].function"),
        ({"tools": "get_weather"}, "tools"),
        ({"tools": [{"type": "function", "function": {"name": f"f{i}"}} for i in range(129)]}, "tools"),
        ({"tools": []}, "tools"),
        ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": "{}"}}]},
         "tools[0].function.parameters"),
        ({"tools": [{"type": "custom", "custom": {"name": "f"}}]}, "tools[0].type"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}] * 2}, "tools"),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "any"}, "tool_choice"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}],
          "tool_choice": {"type": "function", "function": {"name": "g"}}}, "tool_choice"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}], "parallel_tool_calls": "yes"},
         "parallel_tool_calls"),
        ({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "42"}]},
         "messages[1].tool_call_id"),
        ({"messages": [{"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}]},
         "messages[0].tool_calls[0].function.arguments"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
         "messages[0].content[0].type"),
    ],
)
def test_invalid_chat_requests_name_the_param(overrides: dict[str, Any], param: str) -> None:
    body = chat(**overrides)
    if overrides.get("model", "") is None:
        del body["model"]
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(body)
    assert info.value.param == param
    assert info.value.status == 400
    assert info.value.body()["error"]["param"] == param


def test_non_strict_keeps_unknown_fields_and_allows_n() -> None:
    req = parse_chat_request(chat(n=2, tools=[{"type": "function"}]), strict=False)
    assert req.n == 2
    assert req.extra == {"tools": [{"type": "function"}]}


def test_body_must_be_an_object() -> None:
    with pytest.raises(InvalidRequest):
        parse_chat_request(["not", "an", "object"])


def test_completion_request() -> None:
    req = parse_completion_request({"model": "m", "prompt": ["once"], "max_tokens": 5, "stop": ["\n"]})
    assert req.prompt == "once" and req.sampling.max_tokens == 5 and req.sampling.stop == ["\n"]
    with pytest.raises(InvalidRequest) as info:
        parse_completion_request({"model": "m", "prompt": [1, 2, 3]})
    assert info.value.param == "prompt"
    with pytest.raises(InvalidRequest) as info:
        parse_completion_request({"model": "m"})
    assert info.value.param == "prompt"


def test_json_schema_response_format() -> None:
    req = parse_chat_request(chat(response_format={"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object"}}}))
    assert req.response_format is not None
    assert req.response_format.type == "json_schema" and req.response_format.schema == {"type": "object"}
