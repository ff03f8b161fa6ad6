"""What a request needs, and whether a node's model can serve it.

A *feature* is one string naming something a request may use:

    a top-level parameter           "tools", "logit_bias", "temperature", "top_k", ...
    <param>:<kind>, a kind of value "n:many" (n > 1), "logprobs:on", "response_format:json_schema",
                                    "messages:tool" (tool calls/results), "messages:function"
                                    (legacy function calls/results), "content:image_url",
                                    "prompt:batch" (several prompts)

Both sides use this module, so the two lists always speak the same vocabulary:

    needs = request_needs("chat.completions", body)    # the gateway: what this body uses
    node_features("chat.completions")                  # the agent: what its strict validator accepts
    first_unmet(needs, features)                       # the first need a feature set lacks, or None

`node_features` is derived, not written down: it runs the node's own strict validator
(`shareai.wire.validation`) on one small, well-formed probe body per feature and keeps those it
accepts, so what a node advertises cannot drift from what it refuses. A parameter outside the
probe vocabulary is never advertised, so a request that uses one (a provider-specific `top_k`)
is not sent to nodes, which would refuse it as an unknown parameter.

Agents from before capabilities advertise nothing; the coordinator then assumes
`LEGACY_FEATURES`, exactly what their validator accepted (a test pins it against that validator).
A model whose backend has no logprobs drops `logprobs:on` (the agent's server refuses it per model),
one without tool support drops `TOOL_FEATURES`, and one that cannot shorten its embeddings drops
`dimensions`. The `embeddings` endpoint is advertised only by embedding models (and those advertise
nothing else), so the gateway routes `/v1/embeddings` to them and never chat.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shareai.wire.embedding_request import parse_embedding_request
from shareai.wire.errors import InvalidRequest
from shareai.wire.validation import (
    as_integer,
    parse_chat_request,
    parse_completion_request,
)

CHAT = "chat.completions"
COMPLETIONS = "completions"
EMBEDDINGS = "embeddings"

N_MANY = "n:many"
LOGPROBS_ON = "logprobs:on"
MESSAGES_TOOL = "messages:tool"
MESSAGES_FUNCTION = "messages:function"
PROMPT_BATCH = "prompt:batch"

# What a model advertises only if its backend calls tools (`Backend.supports_tools`).
TOOL_FEATURES = frozenset({"tools", "tool_choice", "parallel_tool_calls", MESSAGES_TOOL})

UNSUPPORTED_PARAMETER = "unsupported_parameter"
UNSUPPORTED_VALUE = "unsupported_value"


@dataclass(frozen=True, slots=True)
class Need:
    """One feature a request uses, where it uses it (`param`, as a 400 names it) and the error code
    a refusal of it carries (`unsupported_parameter` for a parameter, `unsupported_value` for a kind
    of value)."""

    feature: str
    param: str
    code: str = UNSUPPORTED_PARAMETER

    def describe(self) -> str:
        what = _WHAT.get(self.feature)
        if what is None and self.feature.startswith("content:"):
            what = f"'{self.feature[8:]}' content parts"
        return what or f"the parameter '{self.feature}'"


_WHAT = {
    "tools": "tool calling", "tool_choice": "tool calling", "parallel_tool_calls": "tool calling",
    "functions": "function calling", "function_call": "function calling", MESSAGES_TOOL: "tool messages",
    MESSAGES_FUNCTION: "function messages (legacy function calling)",
    "audio": "audio output", "modalities": "output modalities", "prediction": "predicted outputs",
    "logit_bias": "logit_bias", N_MANY: "n > 1", LOGPROBS_ON: "logprobs", "top_logprobs": "top_logprobs",
    PROMPT_BATCH: "several prompts in one request", "best_of": "best_of", "suffix": "suffix",
    "response_format:json_object": "JSON mode", "response_format:json_schema": "structured outputs (json_schema)",
}

# -- what a request uses -----------------------------------------------------------------------------


def request_needs(endpoint: str, body: Mapping[str, Any]) -> list[Need]:
    """Every feature `body` uses, once each, in body order. The body is already JSON-decoded and
    checked by the gateway's lenient validation; shapes it did not check are read defensively."""
    needs: dict[str, Need] = {}

    def add(need: Need) -> None:
        needs.setdefault(need.feature, need)

    for key in body:
        # Present at all counts, even as null: the node's strict validator refuses an unknown key
        # whatever its value.
        add(Need(key, key))
    n = as_integer(body.get("n"))
    if n is not None and n > 1:
        add(Need(N_MANY, "n", UNSUPPORTED_VALUE))
    logprobs = body.get("logprobs")
    if logprobs is True or (endpoint == COMPLETIONS and as_integer(logprobs) is not None):
        add(Need(LOGPROBS_ON, "logprobs"))
    if endpoint == CHAT:
        rf = body.get("response_format")
        if isinstance(rf, dict) and isinstance(rf.get("type"), str) and rf["type"] != "text":
            add(Need(f"response_format:{rf['type']}", "response_format.type", UNSUPPORTED_VALUE))
        for need in _message_needs(body.get("messages")):
            add(need)
    elif endpoint == COMPLETIONS:
        prompt = body.get("prompt")
        if not isinstance(prompt, str) and not (isinstance(prompt, list) and len(prompt) == 1
                                                and isinstance(prompt[0], str)):
            add(Need(PROMPT_BATCH, "prompt", UNSUPPORTED_VALUE))
    return list(needs.values())


def _message_needs(messages: Any) -> Iterable[Need]:
    if not isinstance(messages, list):
        return
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            continue
        if msg.get("role") == "tool" or msg.get("tool_calls"):
            yield Need(MESSAGES_TOOL, f"messages[{i}]", UNSUPPORTED_VALUE)
        if msg.get("role") == "function" or msg.get("function_call"):
            yield Need(MESSAGES_FUNCTION, f"messages[{i}]", UNSUPPORTED_VALUE)
        content = msg.get("content")
        if isinstance(content, list):
            for j, part in enumerate(content):
                if isinstance(part, dict) and isinstance(part.get("type"), str):
                    yield Need(f"content:{part['type']}", f"messages[{i}].content[{j}].type", UNSUPPORTED_VALUE)


def first_unmet(needs: Iterable[Need], features: frozenset[str]) -> Need | None:
    for need in needs:
        if need.feature not in features:
            return need
    return None


# -- what a node accepts -----------------------------------------------------------------------------

_USER = {"role": "user", "content": "hi"}
_TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}

# One well-formed (per the OpenAI API) body fragment per feature, merged over a minimal body. A
# parameter's probe uses a typical value of it; a value kind's probe uses a value of that kind.
_CHAT_PROBES: dict[str, dict[str, Any]] = {
    "temperature": {"temperature": 0.5}, "top_p": {"top_p": 0.5}, "max_tokens": {"max_tokens": 8},
    "max_completion_tokens": {"max_completion_tokens": 8}, "stop": {"stop": ["\n"]}, "seed": {"seed": 1},
    "presence_penalty": {"presence_penalty": 0.5}, "frequency_penalty": {"frequency_penalty": 0.5},
    "stream": {"stream": True}, "stream_options": {"stream": True, "stream_options": {"include_usage": True}},
    "response_format": {"response_format": {"type": "text"}}, "logprobs": {"logprobs": False},
    "top_logprobs": {"logprobs": True, "top_logprobs": 2}, "n": {"n": 1}, "user": {"user": "u"},
    "metadata": {"metadata": {"k": "v"}}, "store": {"store": False}, "service_tier": {"service_tier": "auto"},
    "reasoning_effort": {"reasoning_effort": "low"}, "verbosity": {"verbosity": "low"},
    "prompt_cache_key": {"prompt_cache_key": "k"}, "safety_identifier": {"safety_identifier": "s"},
    "web_search_options": {"web_search_options": {}},
    "tools": {"tools": [_TOOL]}, "tool_choice": {"tools": [_TOOL], "tool_choice": "auto"},
    "parallel_tool_calls": {"tools": [_TOOL], "parallel_tool_calls": False},
    "functions": {"functions": [_TOOL["function"]]},
    "function_call": {"functions": [_TOOL["function"]], "function_call": "auto"},
    "audio": {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}},
    "modalities": {"modalities": ["text"]}, "prediction": {"prediction": {"type": "content", "content": "x"}},
    "logit_bias": {"logit_bias": {"50256": -100}},
    N_MANY: {"n": 2}, LOGPROBS_ON: {"logprobs": True},
    "response_format:json_object": {"response_format": {"type": "json_object"}},
    "response_format:json_schema": {"response_format": {"type": "json_schema", "json_schema": {
        "name": "probe", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}},
    MESSAGES_TOOL: {"messages": [
        _USER,
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]},
    MESSAGES_FUNCTION: {"messages": [
        _USER,
        {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "name": "f", "content": "42"},
    ]},
    "content:text": {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
    "content:image_url": {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]},
    "content:input_audio": {"messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]},
    "content:file": {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}]},
}
_COMPLETION_PROBES: dict[str, dict[str, Any]] = {
    "temperature": {"temperature": 0.5}, "top_p": {"top_p": 0.5}, "max_tokens": {"max_tokens": 8},
    "stop": {"stop": ["\n"]}, "seed": {"seed": 1}, "presence_penalty": {"presence_penalty": 0.5},
    "frequency_penalty": {"frequency_penalty": 0.5}, "stream": {"stream": True},
    "stream_options": {"stream": True, "stream_options": {"include_usage": True}},
    "logprobs": {"logprobs": None}, "echo": {"echo": True}, "n": {"n": 1}, "user": {"user": "u"},
    "metadata": {"metadata": {"k": "v"}}, "store": {"store": False}, "service_tier": {"service_tier": "auto"},
    "reasoning_effort": {"reasoning_effort": "low"},
    "best_of": {"best_of": 1}, "suffix": {"suffix": "x"}, "logit_bias": {"logit_bias": {"50256": -100}},
    N_MANY: {"n": 2}, LOGPROBS_ON: {"logprobs": 2}, PROMPT_BATCH: {"prompt": ["a", "b"]},
}
_EMBEDDING_PROBES: dict[str, dict[str, Any]] = {
    "encoding_format": {"encoding_format": "base64"}, "dimensions": {"dimensions": 8}, "user": {"user": "u"},
}
_BASE: dict[str, tuple[dict[str, Any], dict[str, dict[str, Any]], Callable[..., Any]]] = {
    CHAT: ({"model": "probe", "messages": [_USER]}, _CHAT_PROBES, parse_chat_request),
    COMPLETIONS: ({"model": "probe", "prompt": "hi"}, _COMPLETION_PROBES, parse_completion_request),
    EMBEDDINGS: ({"model": "probe", "input": "hi"}, _EMBEDDING_PROBES, parse_embedding_request),
}
ENDPOINTS = tuple(_BASE)


@functools.cache
def node_features(endpoint: str) -> frozenset[str]:
    """The features the node's strict validator accepts for `endpoint` (empty for an endpoint it
    does not validate): a feature is in when its probe body passes `strict=True` validation."""
    if endpoint not in _BASE:
        return frozenset()
    base, probes, parse = _BASE[endpoint]
    if not _accepts(parse, base):
        return frozenset()
    accepted = set(base)
    accepted.update(feature for feature, fragment in probes.items() if _accepts(parse, {**base, **fragment}))
    return frozenset(accepted)


def _accepts(parse: Callable[..., Any], body: dict[str, Any]) -> bool:
    try:
        parse(body, strict=True)
    except InvalidRequest:
        return False
    return True


_COMMON_LEGACY = frozenset({
    "model", "temperature", "top_p", "max_tokens", "stop", "seed", "presence_penalty", "frequency_penalty",
    "stream", "stream_options", "logprobs", "n", "user", "metadata", "store", "service_tier", "reasoning_effort",
    LOGPROBS_ON,
})
# What agents from before capabilities accepted (they advertise nothing, and are assumed to accept
# exactly this): plain text generation with sampling controls, JSON mode and schemas, logprobs; no
# tools, n > 1, logit_bias, audio or non-text content. Fixed: it describes agents already deployed.
LEGACY_FEATURES: Mapping[str, frozenset[str]] = {
    CHAT: _COMMON_LEGACY | {"messages", "max_completion_tokens", "response_format", "top_logprobs",
                            "response_format:json_object", "response_format:json_schema", "content:text"},
    COMPLETIONS: _COMMON_LEGACY | {"prompt", "echo"},
}
