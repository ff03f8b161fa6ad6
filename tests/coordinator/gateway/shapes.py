"""OpenAI's response schema, the parts clients rely on, as plain checks (no SDK leniency).

Each `check_*` raises AssertionError naming the path of the first field that breaks the schema of
OpenAI's API description: required fields present, the types it declares (a `string` field is never
null unless the schema says nullable), enums kept.
"""

from __future__ import annotations

from typing import Any

FINISH = {"stop", "length", "tool_calls", "content_filter", "function_call"}


def _is(value: Any, kind: type | tuple[type, ...], path: str, *, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, (int, float)))
    assert ok, f"{path}: expected {kind}, got {value!r}"


def _has(obj: dict[str, Any], key: str, path: str) -> Any:
    assert key in obj, f"{path}.{key}: required, missing"
    return obj[key]


def _head(obj: dict[str, Any], object_kind: str) -> None:
    _is(_has(obj, "id", "$"), str, "$.id")
    assert _has(obj, "object", "$") == object_kind, f"$.object: {obj.get('object')!r}"
    _is(_has(obj, "created", "$"), int, "$.created")
    _is(_has(obj, "model", "$"), str, "$.model")
    if "system_fingerprint" in obj:
        _is(obj["system_fingerprint"], str, "$.system_fingerprint")


def _usage(usage: Any, path: str, *, nullable: bool = True) -> None:
    _is(usage, dict, path, nullable=nullable)
    if usage is not None:
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            _is(_has(usage, key, path), int, f"{path}.{key}")


def _tool_calls(calls: Any, path: str, *, streamed: bool) -> None:
    _is(calls, list, path)
    for i, call in enumerate(calls):
        p = f"{path}[{i}]"
        if streamed:
            _is(_has(call, "index", p), int, f"{p}.index")
            continue
        _is(_has(call, "id", p), str, f"{p}.id")
        assert _has(call, "type", p) == "function"
        fn = _has(call, "function", p)
        _is(_has(fn, "name", f"{p}.function"), str, f"{p}.function.name")
        _is(_has(fn, "arguments", f"{p}.function"), str, f"{p}.function.arguments")


def check_chat_completion(obj: Any) -> None:
    _is(obj, dict, "$")
    _head(obj, "chat.completion")
    choices = _has(obj, "choices", "$")
    _is(choices, list, "$.choices")
    for i, choice in enumerate(choices):
        p = f"$.choices[{i}]"
        _is(_has(choice, "index", p), int, f"{p}.index")
        assert _has(choice, "finish_reason", p) in FINISH, f"{p}.finish_reason: {choice.get('finish_reason')!r}"
        _is(_has(choice, "logprobs", p), dict, f"{p}.logprobs", nullable=True)
        msg = _has(choice, "message", p)
        assert _has(msg, "role", f"{p}.message") == "assistant"
        _is(_has(msg, "content", f"{p}.message"), str, f"{p}.message.content", nullable=True)
        _is(_has(msg, "refusal", f"{p}.message"), str, f"{p}.message.refusal", nullable=True)
        if msg.get("tool_calls") is not None:
            _tool_calls(msg["tool_calls"], f"{p}.message.tool_calls", streamed=False)
    if "usage" in obj:
        _usage(obj["usage"], "$.usage", nullable=False)


def check_chat_chunk(obj: Any) -> None:
    _is(obj, dict, "$")
    _head(obj, "chat.completion.chunk")
    choices = _has(obj, "choices", "$")
    _is(choices, list, "$.choices")
    for i, choice in enumerate(choices):
        p = f"$.choices[{i}]"
        _is(_has(choice, "index", p), int, f"{p}.index")
        finish = _has(choice, "finish_reason", p)
        assert finish is None or finish in FINISH, f"{p}.finish_reason: {finish!r}"
        if "logprobs" in choice:
            _is(choice["logprobs"], dict, f"{p}.logprobs", nullable=True)
        delta = _has(choice, "delta", p)
        _is(delta, dict, f"{p}.delta")
        for key in ("content", "refusal"):
            if key in delta:
                _is(delta[key], str, f"{p}.delta.{key}", nullable=True)
        if delta.get("tool_calls") is not None:
            _tool_calls(delta["tool_calls"], f"{p}.delta.tool_calls", streamed=True)
    if "usage" in obj:
        _usage(obj["usage"], "$.usage")


def check_completion(obj: Any) -> None:
    _is(obj, dict, "$")
    _head(obj, "text_completion")
    for i, choice in enumerate(_has(obj, "choices", "$")):
        p = f"$.choices[{i}]"
        _is(_has(choice, "index", p), int, f"{p}.index")
        _is(_has(choice, "text", p), str, f"{p}.text")
        _is(_has(choice, "logprobs", p), dict, f"{p}.logprobs", nullable=True)
        assert _has(choice, "finish_reason", p) in {"stop", "length", "content_filter"}


def check_embeddings(obj: Any) -> None:
    _is(obj, dict, "$")
    assert _has(obj, "object", "$") == "list"
    _is(_has(obj, "model", "$"), str, "$.model")
    for i, item in enumerate(_has(obj, "data", "$")):
        p = f"$.data[{i}]"
        assert _has(item, "object", p) == "embedding"
        _is(_has(item, "index", p), int, f"{p}.index")
        _is(_has(item, "embedding", p), (list, str), f"{p}.embedding")
    usage = _has(obj, "usage", "$")
    for key in ("prompt_tokens", "total_tokens"):
        _is(_has(usage, key, "$.usage"), int, f"$.usage.{key}")


def check_error(obj: Any) -> None:
    _is(obj, dict, "$")
    err = _has(obj, "error", "$")
    assert set(err) == {"message", "type", "param", "code"}, f"$.error: {sorted(err)}"
    _is(err["message"], str, "$.error.message")
    _is(err["type"], str, "$.error.type")
    _is(err["param"], str, "$.error.param", nullable=True)
    _is(err["code"], str, "$.error.code", nullable=True)
