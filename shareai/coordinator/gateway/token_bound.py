"""An upper bound on the prompt tokens of a request, whatever the tokenizer: what quotas reserve.

    prompt_bound(CHAT, body)    # >= the prompt_tokens any provider or node will report (text prompts)

Why bytes bound tokens: every tokenizer in use (byte-level BPE as in GPT, Llama 3, Qwen; SentencePiece
with byte fallback as in Llama 2, Gemma, Mistral) turns text into tokens that each cover at least
one UTF-8 byte, so no text of N bytes becomes more than N tokens. What the template adds around the
text (role markers, BOS, a default system prompt) is covered by fixed overheads:

- `REQUEST_OVERHEAD` tokens per request (BOS, the assistant priming, a template's default system text);
- `MESSAGE_OVERHEAD` tokens per chat message (and per embeddings input): role markers, separators;
- structured parts a template renders as JSON (`tools`, `functions`, `tool_choice`, `response_format`,
  a message's `tool_calls`) count the bytes of that JSON indented by 4 spaces, the widest rendering
  chat templates use;
- an image part (`image_url`, `input_image`) counts `IMAGE_TOKENS`, a fixed bound (providers price an
  image by its pixels, not by the bytes of its URL); a provider that counts more for an image is an
  overrun (booked in full and logged, see docs/architecture.md Governance);
- token-array prompts and embeddings inputs count their length exactly.

Everything else in the body (sampling numbers, unknown fields a provider may render) counts its
JSON bytes too, so a field this module does not know cannot slip past the bound.
"""

from __future__ import annotations

import json
from typing import Any

from shareai.coordinator.gateway.targets import CHAT, COMPLETIONS

REQUEST_OVERHEAD = 64
MESSAGE_OVERHEAD = 16
IMAGE_TOKENS = 4096

_IMAGE_PARTS = frozenset({"image_url", "input_image"})
# Fields that never reach a tokenizer: the model name, delivery and sampling controls.
_NOT_RENDERED = frozenset({"model", "stream", "stream_options", "temperature", "top_p", "max_tokens",
                           "max_completion_tokens", "n", "best_of", "seed", "presence_penalty",
                           "frequency_penalty", "logprobs", "top_logprobs", "user", "metadata", "store",
                           "service_tier", "echo", "encoding_format", "dimensions", "logit_bias",
                           "parallel_tool_calls", "reasoning_effort"})


def utf8_len(text: str) -> int:
    # surrogatepass: a lone surrogate (valid in JSON, not in UTF-8) counts its 3 bytes, never raises.
    return len(text.encode("utf-8", "surrogatepass"))


def _json_len(value: Any) -> int:
    return utf8_len(json.dumps(value, indent=4, ensure_ascii=False))


def _content_len(content: Any) -> int:
    """A message's content: text as its bytes, images at their fixed bound, other parts as JSON."""
    if isinstance(content, str):
        return utf8_len(content)
    if not isinstance(content, list):
        return _json_len(content) if content is not None else 0
    total = 0
    for part in content:
        # A part's `type` may be anything a client sent (a list, an object): only a string names a kind.
        kind = part.get("type") if isinstance(part, dict) else None
        if isinstance(kind, str) and kind in _IMAGE_PARTS:
            total += IMAGE_TOKENS
        elif kind == "text" and isinstance(part.get("text"), str):
            total += utf8_len(part["text"])
        else:
            total += _json_len(part)
    return total


def _message_len(message: Any) -> int:
    if not isinstance(message, dict):
        return MESSAGE_OVERHEAD + _json_len(message)
    total = MESSAGE_OVERHEAD
    for key, value in message.items():
        if key == "content":
            total += _content_len(value)
        elif isinstance(value, str):
            total += utf8_len(value)  # role, name, tool_call_id, refusal ...
        elif value is not None:
            total += _json_len(value)  # tool_calls, function_call, audio ...
    return total


def _rest_len(body: dict[str, Any], skip: frozenset[str]) -> int:
    return sum(_json_len(v) for k, v in body.items() if k not in skip and k not in _NOT_RENDERED and v is not None)


def _tokens_or_text_len(value: Any) -> int:
    """A completions prompt or embeddings input item: a string's bytes, a token array's length."""
    if isinstance(value, str):
        return utf8_len(value)
    if isinstance(value, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in value):
        return len(value)
    return _json_len(value)


def _items(value: Any) -> list[Any]:
    """`"text"`, `[1, 2]` (one token array) or a list of either: the items, one per prompt/input."""
    if isinstance(value, list) and value and not all(isinstance(t, int) and not isinstance(t, bool)
                                                     for t in value):
        return value
    return [value]


def prompt_bound(endpoint: str, body: dict[str, Any]) -> int:
    """Tokens no tokenizer exceeds for this (validated) request's prompt, overheads included."""
    if endpoint == CHAT:
        messages = body.get("messages") or []
        return (REQUEST_OVERHEAD + sum(_message_len(m) for m in messages)
                + _rest_len(body, frozenset({"messages"})))
    if endpoint == COMPLETIONS:
        # Several prompts are answered each on its own: each pays the request overhead.
        items = _items(body.get("prompt"))
        return (sum(REQUEST_OVERHEAD + _tokens_or_text_len(p) for p in items)
                + _rest_len(body, frozenset({"prompt"})))
    items = _items(body.get("input"))
    return REQUEST_OVERHEAD + sum(MESSAGE_OVERHEAD + _tokens_or_text_len(i) for i in items)


def prompt_count(endpoint: str, body: dict[str, Any]) -> int:
    """How many prompts a completions request holds (each is answered with its own choices)."""
    if endpoint == COMPLETIONS:
        return max(1, len(_items(body.get("prompt"))))
    return 1
