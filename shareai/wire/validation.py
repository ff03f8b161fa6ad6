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
import re
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
    "functions": "function calling is not supported by this node",
    "function_call": "function calling is not supported by this node",
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


@dataclass(slots=True, frozen=True)
class ToolCall:
    """A function call an assistant message made (`arguments`: the JSON text, as OpenAI sends it)."""

    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class ChatMessage:
    role: str
    content: str
    name: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)  # assistant messages that called tools
    tool_call_id: str | None = None  # tool messages: the call this is the result of


@dataclass(slots=True, frozen=True)
class Tool:
    """A function the model may call; `parameters` is its arguments' JSON schema."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


TOOL_AUTO = "auto"
TOOL_NONE = "none"
TOOL_REQUIRED = "required"
TOOL_NAMED = "function"


@dataclass(slots=True, frozen=True)
class Tools:
    """What a request allows the model to call: `mode` auto (text or calls), none (text only),
    required (at least one call) or function (a call of `name`); `parallel`: several calls at once."""

    tools: tuple[Tool, ...]
    mode: str = TOOL_AUTO
    name: str | None = None
    parallel: bool = True

    @property
    def active(self) -> bool:
        """Whether the model may call a tool in this request."""
        return bool(self.tools) and self.mode != TOOL_NONE

    def callable(self) -> tuple[Tool, ...]:
        """The tools a call may name (one, for a named tool_choice)."""
        if self.mode == TOOL_NAMED:
            return tuple(t for t in self.tools if t.name == self.name)
        return self.tools if self.active else ()


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
    tools: Tools | None = None  # parsed in strict mode only (the gateway forwards them as they are)


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
        if strict and (msg.get("function_call") or role == "function"):
            raise _bad(param, "Function messages (the legacy function calling) are not supported by this node.",
                       "unsupported_value")
        content = _content(msg.get("content"), f"{param}.content", strict=strict, role=role)
        name = msg.get("name")
        if name is not None and not isinstance(name, str):
            raise _type_error(f"{param}.name", "a string", name)
        calls = _message_tool_calls(msg, param) if strict and role == "assistant" else []
        call_id = msg.get("tool_call_id")
        if strict and role == "tool":
            if not isinstance(call_id, str) or not call_id:
                raise _bad(f"{param}.tool_call_id", f"'{param}.tool_call_id' must be the id of a tool call.",
                           "missing_required_parameter" if call_id is None else "invalid_type")
        out.append(ChatMessage(role=role, content=content, name=name, tool_calls=calls,
                               tool_call_id=call_id if isinstance(call_id, str) else None))
    return out


def _message_tool_calls(msg: dict[str, Any], param: str) -> list[ToolCall]:
    value = msg.get("tool_calls")
    if value is None:
        return []
    if not isinstance(value, list):
        raise _type_error(f"{param}.tool_calls", "an array", value)
    calls = []
    for j, call in enumerate(value):
        p = f"{param}.tool_calls[{j}]"
        if not isinstance(call, dict):
            raise _type_error(p, "an object", call)
        if call.get("type", "function") != "function":
            raise _bad(f"{p}.type", f"'{p}.type' must be 'function'.", "unsupported_value")
        call_id, fn = call.get("id"), call.get("function")
        if not isinstance(call_id, str):
            raise _type_error(f"{p}.id", "a string", call_id)
        if not isinstance(fn, dict):
            raise _type_error(f"{p}.function", "an object", fn)
        name, arguments = fn.get("name"), fn.get("arguments")
        if not isinstance(name, str):
            raise _type_error(f"{p}.function.name", "a string", name)
        if not isinstance(arguments, str):
            raise _type_error(f"{p}.function.arguments", "a string", arguments)
        calls.append(ToolCall(call_id, name, arguments))
    return calls


_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TOOL_KEYS = frozenset({"tools", "tool_choice", "parallel_tool_calls"})
MAX_TOOLS = 128  # OpenAI's limit; it also bounds the grammar a node builds


def _tool(value: Any, param: str) -> Tool:
    if not isinstance(value, dict):
        raise _type_error(param, "an object", value)
    if value.get("type") != "function":
        raise _bad(f"{param}.type", f"'{param}.type' must be 'function', got {value.get('type')!r}.",
                   "unsupported_value")
    fn = value.get("function")
    if not isinstance(fn, dict):
        raise _type_error(f"{param}.function", "an object", fn)
    name = fn.get("name")
    if not isinstance(name, str) or not _TOOL_NAME.match(name):
        raise _bad(f"{param}.function.name", f"'{param}.function.name' must be 1 to 64 letters, digits, '_' or "
                   f"'-', got {name!r}.")
    description = fn.get("description", "")
    if not isinstance(description, str):
        raise _type_error(f"{param}.function.description", "a string", description)
    parameters = fn.get("parameters")
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    elif not isinstance(parameters, dict):
        raise _type_error(f"{param}.function.parameters", "an object", parameters)
    strict = fn.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise _type_error(f"{param}.function.strict", "a boolean", strict)
    return Tool(name, description, parameters)


def _tools(body: dict[str, Any]) -> Tools | None:
    """`tools`, `tool_choice` and `parallel_tool_calls` as the node honours them (strict mode)."""
    value = body.get("tools")
    choice = body.get("tool_choice")
    parallel = _boolean(body, "parallel_tool_calls")
    if value is None:
        if choice is not None:
            raise _bad("tool_choice", "'tool_choice' is only allowed when 'tools' are specified.")
        if parallel is not None:
            raise _bad("parallel_tool_calls", "'parallel_tool_calls' is only allowed when 'tools' are specified.")
        return None
    if not isinstance(value, list):
        raise _type_error("tools", "an array", value)
    if not value:
        raise _bad("tools", "'tools' must contain at least one tool (or be left out).", "empty_array")
    if len(value) > MAX_TOOLS:
        raise _bad("tools", f"'tools' may hold at most {MAX_TOOLS} tools, got {len(value)}.")
    tools = tuple(_tool(t, f"tools[{i}]") for i, t in enumerate(value))
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        raise _bad("tools", "Tool names must be unique.")
    mode, name = TOOL_AUTO, None
    if isinstance(choice, str):
        if choice not in (TOOL_AUTO, TOOL_NONE, TOOL_REQUIRED):
            raise _bad("tool_choice", f"'tool_choice' must be 'none', 'auto', 'required' or a named function, "
                       f"got {choice!r}.")
        mode = choice
    elif isinstance(choice, dict):
        fn = choice.get("function")
        if choice.get("type") != "function" or not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _bad("tool_choice", "A named 'tool_choice' must look like "
                       '{"type": "function", "function": {"name": "..."}}.', "unsupported_value")
        mode, name = TOOL_NAMED, fn["name"]
        if name not in names:
            raise _bad("tool_choice", f"'tool_choice' names the function '{name}', which is not in 'tools'.")
    elif choice is not None:
        raise _type_error("tool_choice", "a string or an object", choice)
    return Tools(tools, mode, name, True if parallel is None else parallel)


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
    extra = {k: v for k, v in body.items() if k not in known and not (strict and k in TOOL_KEYS)}
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
        tools=_tools(body) if strict else None,
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

