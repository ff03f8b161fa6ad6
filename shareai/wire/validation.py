"""Request bodies of the OpenAI API, validated before any work is done.

`parse_chat_request(body)` and `parse_completion_request(body)` turn a decoded JSON body into a
typed request or raise `InvalidRequest` naming the offending `param`. With `strict=True` (the node
agent, which runs the model itself) every field it cannot honour is a 400, never a silent drop;
with `strict=False` (the gateway, which forwards to providers that may support more) unknown
fields are kept in `extra` and passed on.

Integers follow JSON Schema: a whole number written as a float (`"max_tokens": 4.0`) is an integer,
`4.5` is not (a 400 naming the param). `whole_numbers(body, endpoint)` returns the body with those
floats turned into ints, which is what the gateway forwards.

Every message role OpenAI's schema allows is accepted (`function` is the legacy one LangChain's
`FunctionMessage` still sends); with `strict=True` a role or message kind the node cannot run
(`tool`, `function`, assistant `tool_calls`/`function_call`) is an `unsupported_value` 400, so the
gateway routes such requests elsewhere (`shareai.wire.capabilities`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from shareai.wire.errors import InvalidRequest

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# The integer parameters of each endpoint (top level), for `whole_numbers`.
INTEGER_PARAMS = {
    "chat.completions": ("max_tokens", "max_completion_tokens", "seed", "n", "top_logprobs"),
    "completions": ("max_tokens", "seed", "n", "logprobs", "best_of"),
    "embeddings": ("dimensions",),
}
MAX_STOP = 4

# Fields a node cannot honour: a 400 in strict mode (listed so the message says *why*).
_UNSUPPORTED_BY_NODE = {
    "tools": "tool calling is not supported by this node",
    "tool_choice": "tool calling is not supported by this node",
    "functions": "function calling is not supported by this node",
    "function_call": "function calling is not supported by this node",
    "parallel_tool_calls": "tool calling is not supported by this node",
    "audio": "audio output is not supported by this node",
    "modalities": "only text output is supported by this node",
    "prediction": "predicted outputs are not supported by this node",
    "logit_bias": "logit_bias is not supported by this node",
    "best_of": "best_of is not supported by this node",
    "suffix": "suffix is not supported by this node",
}
# Accepted and ignored on purpose (they do not change the generated text).
_IGNORED = frozenset({"user", "metadata", "store", "service_tier", "reasoning_effort"})


@dataclass(slots=True)
class Sampling:
    """Sampling and length controls shared by chat and text completions."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None


@dataclass(slots=True)
class ChatMessage:
    role: str
    content: str
    name: str | None = None


@dataclass(slots=True)
class ResponseFormat:
    type: str  # text | json_object | json_schema
    schema: dict[str, Any] | None = None
    name: str | None = None


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[ChatMessage]
    sampling: Sampling
    stream: bool = False
    include_usage: bool = False
    response_format: ResponseFormat | None = None
    logprobs: bool = False
    top_logprobs: int | None = None
    n: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CompletionRequest:
    model: str
    prompt: str
    sampling: Sampling
    stream: bool = False
    include_usage: bool = False
    logprobs: int | None = None
    echo: bool = False
    n: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def _bad(param: str, message: str, code: str | None = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def _type_error(param: str, expected: str, value: Any) -> InvalidRequest:
    return _bad(param, f"Invalid type for '{param}': expected {expected}, got {_json_type(value)}.", "invalid_type")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _number(body: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _type_error(key, "a number", value)
    if not lo <= value <= hi:
        raise _bad(key, f"'{key}' must be between {lo:g} and {hi:g}, got {value}.")
    return float(value)


def as_integer(value: Any) -> int | None:
    """`value` as an int when JSON Schema counts it as an integer (`4`, `4.0`), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def whole_numbers(body: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """`body` with the whole floats of its integer parameters as ints (the same dict when none is)."""
    fixes = {k: as_integer(body[k]) for k in INTEGER_PARAMS.get(endpoint, ())
             if isinstance(body.get(k), float) and as_integer(body[k]) is not None}
    return {**body, **fixes} if fixes else body


def _integer(body: dict[str, Any], key: str, lo: int, hi: int | None = None) -> int | None:
    raw = body.get(key)
    if raw is None:
        return None
    value = as_integer(raw)
    if value is None:
        raise _type_error(key, "an integer", raw)
    if value < lo or (hi is not None and value > hi):
        bound = f"at least {lo}" if hi is None else f"between {lo} and {hi}"
        raise _bad(key, f"'{key}' must be {bound}, got {value}.")
    return value


def _boolean(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _type_error(key, "a boolean", value)
    return value


def _stop(body: dict[str, Any]) -> list[str]:
    value = body.get("stop")
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        if len(value) > MAX_STOP:
            raise _bad("stop", f"'stop' takes at most {MAX_STOP} sequences, got {len(value)}.")
        return [s for s in value if s]
    raise _type_error("stop", "a string or an array of strings", value)


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise _bad("model", "You must provide a model parameter.", "missing_required_parameter")
    if not isinstance(model, str):
        raise _type_error("model", "a string", model)
    if not model.strip():
        raise _bad("model", "'model' must not be empty.")
    return model


def _sampling(body: dict[str, Any], *, chat: bool) -> Sampling:
    max_tokens = _integer(body, "max_tokens", 1)
    if chat:
        mct = _integer(body, "max_completion_tokens", 1)
        if mct is not None:
            max_tokens = mct if max_tokens is None else min(max_tokens, mct)
    seed = body.get("seed")
    if seed is not None:
        seed = as_integer(seed)
        if seed is None:
            raise _type_error("seed", "an integer", body["seed"])
    return Sampling(
        temperature=_number(body, "temperature", 0.0, 2.0),
        top_p=_number(body, "top_p", 0.0, 1.0),
        max_tokens=max_tokens,
        stop=_stop(body),
        seed=seed,
        presence_penalty=_number(body, "presence_penalty", -2.0, 2.0),
        frequency_penalty=_number(body, "frequency_penalty", -2.0, 2.0),
    )


def _stream(body: dict[str, Any]) -> tuple[bool, bool]:
    stream = bool(_boolean(body, "stream"))
    opts = body.get("stream_options")
    include_usage = False
    if opts is not None:
        if not isinstance(opts, dict):
            raise _type_error("stream_options", "an object", opts)
        if not stream:
            raise _bad("stream_options", "'stream_options' is only allowed when 'stream' is true.")
        inc = opts.get("include_usage")
        if inc is not None and not isinstance(inc, bool):
            raise _type_error("stream_options.include_usage", "a boolean", inc)
        include_usage = bool(inc)
    return stream, include_usage


def _n(body: dict[str, Any], *, strict: bool) -> int:
    n = _integer(body, "n", 1, 128)
    if n is None:
        return 1
    if strict and n != 1:
        raise _bad("n", "Only n=1 is supported by this node.", "unsupported_value")
    return n


def _content(value: Any, param: str, *, strict: bool, role: str) -> str:
    if isinstance(value, str):
        return value
    if value is None and role == "assistant":
        return ""
    if isinstance(value, list):
        texts: list[str] = []
        for j, part in enumerate(value):
            p = f"{param}[{j}]"
            if not isinstance(part, dict):
                raise _type_error(p, "an object", part)
            kind = part.get("type")
            if kind == "text":
                text = part.get("text")
                if not isinstance(text, str):
                    raise _type_error(f"{p}.text", "a string", text)
                texts.append(text)
            elif strict:
                raise _bad(f"{p}.type", f"Content part type '{kind}' is not supported by this node; only 'text' is.",
                           "unsupported_value")
        return "".join(texts)
    raise _type_error(param, "a string or an array of content parts", value)


def _messages(body: dict[str, Any], *, strict: bool) -> list[ChatMessage]:
    messages = body.get("messages")
    if messages is None:
        raise _bad("messages", "You must provide a messages parameter.", "missing_required_parameter")
    if not isinstance(messages, list):
        raise _type_error("messages", "an array", messages)
    if not messages:
        raise _bad("messages", "'messages' must contain at least one message.")
    out: list[ChatMessage] = []
    for i, msg in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise _type_error(param, "an object", msg)
        role = msg.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise _bad(f"{param}.role", f"'{param}.role' must be one of {sorted(ROLES)}, got {role!r}.")
        if strict and (msg.get("tool_calls") or role == "tool"):
            raise _bad(param, "Tool messages are not supported by this node.", "unsupported_value")
        if strict and (msg.get("function_call") or role == "function"):
            raise _bad(param, "Function messages (the legacy function calling) are not supported by this node.",
                       "unsupported_value")
        content = _content(msg.get("content"), f"{param}.content", strict=strict, role=role)
        name = msg.get("name")
        if name is not None and not isinstance(name, str):
            raise _type_error(f"{param}.name", "a string", name)
        out.append(ChatMessage(role=role, content=content, name=name))
    return out


def _response_format(body: dict[str, Any]) -> ResponseFormat | None:
    rf = body.get("response_format")
    if rf is None:
        return None
    if not isinstance(rf, dict):
        raise _type_error("response_format", "an object", rf)
    kind = rf.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return ResponseFormat(type="json_object")
    if kind == "json_schema":
        js = rf.get("json_schema")
        if not isinstance(js, dict):
            raise _type_error("response_format.json_schema", "an object", js)
        schema = js.get("schema")
        if schema is not None and not isinstance(schema, dict):
            raise _type_error("response_format.json_schema.schema", "an object", schema)
        name = js.get("name")
        return ResponseFormat(type="json_schema", schema=schema or {}, name=name if isinstance(name, str) else None)
    raise _bad("response_format.type",
               f"'response_format.type' must be text, json_object or json_schema, got {kind!r}.")


_CHAT_KNOWN = frozenset({
    "model", "messages", "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed",
    "presence_penalty", "frequency_penalty", "stream", "stream_options", "response_format", "logprobs",
    "top_logprobs", "n",
}) | _IGNORED

_COMPLETION_KNOWN = frozenset({
    "model", "prompt", "temperature", "top_p", "max_tokens", "stop", "seed", "presence_penalty",
    "frequency_penalty", "stream", "stream_options", "logprobs", "echo", "n",
}) | _IGNORED


def _extras(body: dict[str, Any], known: frozenset[str], *, strict: bool) -> dict[str, Any]:
    extra = {k: v for k, v in body.items() if k not in known}
    if strict:
        for key in extra:
            reason = _UNSUPPORTED_BY_NODE.get(key, f"'{key}' is not a supported parameter")
            raise _bad(key, f"Unsupported parameter '{key}': {reason}.", "unsupported_parameter")
    return extra


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest(f"The request body must be a JSON object, got {_json_type(body)}.", code="invalid_type")
    return body


def parse_chat_request(body: Any, *, strict: bool = True) -> ChatRequest:
    body = require_object(body)
    model = _model(body)
    messages = _messages(body, strict=strict)
    sampling = _sampling(body, chat=True)
    stream, include_usage = _stream(body)
    logprobs = bool(_boolean(body, "logprobs"))
    top_logprobs = _integer(body, "top_logprobs", 0, 20)
    if top_logprobs is not None and not logprobs:
        raise _bad("top_logprobs", "'top_logprobs' requires 'logprobs' to be true.")
    return ChatRequest(
        model=model,
        messages=messages,
        sampling=sampling,
        stream=stream,
        include_usage=include_usage,
        response_format=_response_format(body),
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        n=_n(body, strict=strict),
        extra=_extras(body, _CHAT_KNOWN, strict=strict),
    )


def parse_completion_request(body: Any, *, strict: bool = True) -> CompletionRequest:
    body = require_object(body)
    model = _model(body)
    prompt = body.get("prompt")
    if prompt is None:
        raise _bad("prompt", "You must provide a prompt parameter.", "missing_required_parameter")
    if isinstance(prompt, list):
        if len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        elif strict:
            raise _bad("prompt", "Only a single string prompt is supported by this node.", "unsupported_value")
    if not isinstance(prompt, str) and strict:
        raise _type_error("prompt", "a string", prompt)
    stream, include_usage = _stream(body)
    return CompletionRequest(
        model=model,
        prompt=prompt if isinstance(prompt, str) else "",
        sampling=_sampling(body, chat=False),
        stream=stream,
        include_usage=include_usage,
        logprobs=_integer(body, "logprobs", 0, 5),
        echo=bool(_boolean(body, "echo")),
        n=_n(body, strict=strict),
        extra=_extras(body, _COMPLETION_KNOWN, strict=strict),
    )
