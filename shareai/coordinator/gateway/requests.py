"""What the gateway needs from a request body, validated before any work is done.

Chat and text completions go through `shareai.wire.validation` with `strict=False` (unknown fields
are forwarded: a provider may support more than a node does); embeddings get their own small check.
Quotas and token limits reserve `Parsed.reserve_tokens`: an upper bound on the prompt
(`token_bound.prompt_bound`) plus the completion cap of every choice. The 4-characters-a-token
estimate is kept only to order candidates by expected cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shareai.coordinator.gateway.targets import CHAT, COMPLETIONS, EMBEDDINGS
from shareai.coordinator.gateway.token_bound import prompt_bound, prompt_count
from shareai.wire.errors import InvalidRequest
from shareai.wire.validation import (
    as_integer,
    parse_chat_request,
    parse_completion_request,
    require_object,
    whole_numbers,
)

MAX_BEST_OF = 128


@dataclass(frozen=True, slots=True)
class Parsed:
    model: str
    stream: bool
    include_usage: bool
    prompt_tokens: int  # an estimate (4 characters a token): cost-ordering of candidates only
    max_tokens: int  # the completion cap of one choice: the client's, else the gateway's default
    prompt_bound: int = 0  # no tokenizer counts more prompt tokens than this (what quotas reserve)
    client_capped: bool = True  # the client named max_tokens / max_completion_tokens itself
    choices: int = 1  # choices generated (n, best_of, times the prompts of a completions request)

    @property
    def completion_bound(self) -> int:
        return self.max_tokens * self.choices

    @property
    def reserve_tokens(self) -> int:
        return self.prompt_bound + self.completion_bound


def _estimate(chars: int) -> int:
    return chars // 4 + 1


def _best_of(body: dict[str, Any]) -> int:
    raw = body.get("best_of")
    if raw is None:
        return 1
    value = as_integer(raw)
    if value is None or not 1 <= value <= MAX_BEST_OF:
        raise InvalidRequest(f"'best_of' must be an integer between 1 and {MAX_BEST_OF}.", param="best_of",
                             code="invalid_value")
    return value


def parse_body(endpoint: str, raw: Any, default_max_tokens: int) -> tuple[dict[str, Any], Parsed]:
    """The body to forward (integer parameters written as whole floats turned into ints) and what
    the gateway reads from it."""
    body = require_object(raw)
    if endpoint == CHAT:
        chat = parse_chat_request(body, strict=False)
        body = whole_numbers(body, CHAT)
        chars = sum(len(m.content) for m in chat.messages)
        capped = chat.sampling.max_tokens is not None
        return body, Parsed(chat.model, chat.stream, chat.include_usage, _estimate(chars),
                            chat.sampling.max_tokens or default_max_tokens, prompt_bound(CHAT, body), capped,
                            chat.n)
    if endpoint == COMPLETIONS:
        comp = parse_completion_request(body, strict=False)
        _best_of(body)
        body = whole_numbers(body, COMPLETIONS)
        prompt = body.get("prompt")
        chars = len(comp.prompt) if comp.prompt else len(str(prompt))
        capped = comp.sampling.max_tokens is not None
        choices = max(comp.n, _best_of(body)) * prompt_count(COMPLETIONS, body)
        return body, Parsed(comp.model, comp.stream, comp.include_usage, _estimate(chars),
                            comp.sampling.max_tokens or default_max_tokens, prompt_bound(COMPLETIONS, body),
                            capped, choices)
    parsed = _embeddings(body)
    return whole_numbers(body, EMBEDDINGS), parsed


def _embeddings(body: dict[str, Any]) -> Parsed:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("You must provide a model parameter.", param="model", code="missing_required_parameter")
    value = body.get("input")
    if value is None:
        raise InvalidRequest("You must provide an input parameter.", param="input", code="missing_required_parameter")
    if isinstance(value, str):
        chars = len(value)
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        chars = sum(len(v) for v in value)
    elif isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        chars = 4 * len(value)
    elif isinstance(value, list) and value and all(
            isinstance(v, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in v) for v in value):
        chars = 4 * sum(len(v) for v in value)
    else:
        raise InvalidRequest("'input' must be a string, an array of strings, or an array of token arrays.",
                             param="input", code="invalid_type")
    if body.get("stream"):
        raise InvalidRequest("Embeddings cannot be streamed.", param="stream", code="invalid_value")
    dimensions = body.get("dimensions")
    if dimensions is not None and (as_integer(dimensions) is None or (as_integer(dimensions) or 0) < 1):
        raise InvalidRequest("'dimensions' must be a positive integer.", param="dimensions", code="invalid_value")
    return Parsed(model, False, False, _estimate(chars), 0, prompt_bound(EMBEDDINGS, body), True, 0)
