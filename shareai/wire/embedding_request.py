"""Embeddings request bodies, validated before any work (the node serves them; the gateway forwards).

`parse_embedding_request(body)` accepts `input` as a string, strings, a token array or token arrays,
and raises `InvalidRequest` naming the offending `param`; the shared field helpers are
`shareai.wire.validation`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shareai.wire.validation import _bad, _extras, _integer, _model, require_object

MAX_EMBEDDING_INPUTS = 2048  # OpenAI's limit on items in one request
ENCODING_FORMATS = ("float", "base64")


@dataclass(slots=True)
class EmbeddingRequest:
    model: str
    inputs: list[str | list[int]]  # strings, or token arrays
    encoding_format: str = "float"
    dimensions: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_EMBEDDING_KNOWN = frozenset({"model", "input", "encoding_format", "dimensions", "user"})


def _is_token(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _embedding_inputs(body: dict[str, Any]) -> list[str | list[int]]:
    value = body.get("input")
    if value is None:
        raise _bad("input", "You must provide an input parameter.", "missing_required_parameter")
    items: list[str | list[int]]
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        items = list(value)
    elif isinstance(value, list) and value and all(_is_token(v) for v in value):
        items = [list(value)]
    elif isinstance(value, list) and value and all(
            isinstance(v, list) and all(_is_token(t) for t in v) for v in value):
        items = [list(v) for v in value]
    else:
        raise _bad("input", "'input' must be a non-empty string, an array of strings, an array of tokens (integers "
                   "from 0), or an array of token arrays.", "invalid_type")
    if len(items) > MAX_EMBEDDING_INPUTS:
        raise _bad("input", f"'input' may hold at most {MAX_EMBEDDING_INPUTS} items, got {len(items)}.")
    for i, item in enumerate(items):
        if not item:
            raise _bad(f"input[{i}]" if isinstance(value, list) else "input",
                       "'input' must not contain an empty string or an empty token array.")
    return items


def parse_embedding_request(body: Any, *, strict: bool = True) -> EmbeddingRequest:
    """An embeddings body (`input`: a string, strings, a token array or token arrays)."""
    body = require_object(body)
    model = _model(body)
    inputs = _embedding_inputs(body)
    fmt = body.get("encoding_format")
    if fmt is None:
        fmt = "float"
    if not isinstance(fmt, str) or fmt not in ENCODING_FORMATS:
        raise _bad("encoding_format", f"'encoding_format' must be 'float' or 'base64', got {fmt!r}.")
    if strict and body.get("stream") is not None:
        raise _bad("stream", "Embeddings cannot be streamed.", "unsupported_parameter")
    return EmbeddingRequest(
        model=model, inputs=inputs, encoding_format=fmt, dimensions=_integer(body, "dimensions", 1),
        extra=_extras(body, _EMBEDDING_KNOWN, strict=strict),
    )
