"""The JSON codec of the request path: orjson where installed, the standard library otherwise.

orjson decodes and encodes several times faster than `json`, which shows on the gateway's hot path
(a request body in, an upstream body out and back, SSE frames). It has no wheels on every platform
we run on, so it is optional: `SHAREAI_JSON=stdlib` (read at import) or its absence selects `json`.

Decoding keeps `json`'s semantics exactly. orjson refuses inputs that `json` accepts (lone
surrogate escapes such as "\\ud800", NaN/Infinity, 1e400, UTF-16/32 bodies, a UTF-8 BOM) and words
its errors differently; whenever orjson refuses, the stdlib decoder runs on the same bytes and its
result or its exception is what the caller gets. orjson also reads an integer past 64 bits as a
float where `json` keeps the exact int, silently: any run of 19 or more digits (every such integer
has one; so may a long number inside a string, which then merely takes the slow path) sends the
input to the stdlib decoder first. What remains takes the fast path, where both decoders agree.

Encoding produces compact UTF-8 JSON. Values orjson cannot encode (integers past 64 bits, lone
surrogates, non-string keys) go through `json` with ASCII escapes, which round-trips them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ENV = "SHAREAI_JSON"  # "stdlib" forces the standard library; anything else: orjson when installed


# 2**63 has 19 digits: a shorter integer literal is exact in orjson's 64-bit integers.
_LONG_DIGITS_B = re.compile(rb"[0-9]{19}")
_LONG_DIGITS_S = re.compile(r"[0-9]{19}")


def _std_loads(raw: bytes | str) -> Any:
    return json.loads(raw)


def _std_dumps_safe(value: Any) -> bytes:
    # ASCII escapes: a lone surrogate in a str becomes "\\udXXX" instead of an encode error.
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Codec:
    """One JSON implementation: `loads` (bytes or str, `json.loads` semantics) and `dumps_bytes`."""

    name: str
    loads: Callable[[bytes | str], Any]
    dumps_bytes: Callable[[Any], bytes]


STDLIB = Codec("stdlib", _std_loads, _std_dumps_safe)


def _orjson_codec() -> Codec | None:
    try:
        import orjson
    except ImportError:
        return None
    fast_loads = orjson.loads
    fast_dumps = orjson.dumps
    decode_error = orjson.JSONDecodeError
    encode_error = orjson.JSONEncodeError

    def loads(raw: bytes | str) -> Any:
        long_digits = _LONG_DIGITS_B if isinstance(raw, bytes) else _LONG_DIGITS_S
        if long_digits.search(raw):  # type: ignore[arg-type]  # the pattern matches raw's type
            return json.loads(raw)
        try:
            return fast_loads(raw)
        except decode_error:
            # The stdlib decides every input orjson refuses: it accepts some (see the module doc)
            # and raises its own exception type and message for the rest.
            return json.loads(raw)

    def dumps_bytes(value: Any) -> bytes:
        try:
            return fast_dumps(value)
        except encode_error:
            return _std_dumps_safe(value)

    return Codec("orjson", loads, dumps_bytes)


def select(name: str | None = None) -> Codec:
    """The codec named `name` ("orjson" or "stdlib"; None: from $SHAREAI_JSON), the stdlib one when
    orjson is asked for but not installed."""
    wanted = (name if name is not None else os.environ.get(ENV, "orjson")).strip().lower()
    if wanted == "stdlib":
        return STDLIB
    return _orjson_codec() or STDLIB


CODEC = select()
loads = CODEC.loads
dumps_bytes = CODEC.dumps_bytes
