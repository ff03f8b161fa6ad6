"""The request path's JSON codec decodes exactly as `json` does, with orjson and without it.

Every test runs against both codecs (`jsonc.select("orjson")`, `jsonc.select("stdlib")`); the
`SHAREAI_JSON=stdlib` switch is checked in a fresh interpreter, as a deployment would set it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shareai.wire import jsonc

orjson_missing = pytest.mark.skipif(jsonc.select("orjson").name != "orjson", reason="orjson not installed")
CODECS = [pytest.param("orjson", marks=orjson_missing), "stdlib"]


def outcome(fn: Any, raw: bytes | str) -> tuple[str, Any]:
    """("ok", value) or ("error", exception type and message): comparable across decoders."""
    try:
        return "ok", _comparable(fn(raw))
    except (ValueError, RecursionError) as exc:
        return "error", (type(exc), str(exc))


def _comparable(value: Any) -> Any:
    # NaN != NaN; compare its repr. Keep int vs float apart (1 == 1.0 would hide a lost int).
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return (type(value).__name__, value)


# Inputs where orjson on its own differs from `json`: it refuses, or it reads a different value.
AWKWARD: list[bytes | str] = [
    b'"\\ud800"',                              # lone surrogate escape: json accepts
    '"\ud800"',                                # lone surrogate in a str
    b'{"max_tokens": 18446744073709551616}',   # past 64 bits: orjson alone returns a float
    b"-9223372036854775809",
    b"123456789012345678901234567890",
    b"1" * 5000,                               # past Python's int digit limit: ValueError
    b"NaN", b"[Infinity, -Infinity]", b"1e400",
    '{"a": 1}'.encode("utf-16"), '{"a": 1}'.encode("utf-32"),
    b'\xef\xbb\xbf{"a": 1}',                   # UTF-8 BOM on bytes: json accepts
    "\ufeff{}",                                # BOM on a str: json refuses
    b'"\xff"',                                 # invalid UTF-8: UnicodeDecodeError
    b'"\x01"', b"{,}", b"[1,]", b"{} x", b"", b"   ",
    b"[" * 5000 + b"]" * 5000,                 # json: RecursionError
    b'{"a": 1, "a": 2}', b"-0", b"-0.0", b"0.1e-400", b"1.0000000000000002",
    b'{"content": "call 0123456789012345678901 now"}',  # long digits in a string: still right
]


@pytest.mark.parametrize("name", CODECS)
@pytest.mark.parametrize("raw", AWKWARD, ids=lambda r: repr(r)[:40])
def test_decodes_awkward_input_exactly_as_json(name: str, raw: bytes | str) -> None:
    assert outcome(jsonc.select(name).loads, raw) == outcome(json.loads, raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@pytest.mark.parametrize("name", CODECS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_values, ascii_only=st.booleans())
def test_decodes_any_json_text_exactly_as_json(name: str, value: Any, ascii_only: bool) -> None:
    # json.dumps writes big ints, NaN and lone surrogates (escaped when ascii_only) that orjson reads
    # differently or refuses: the codec must still agree with json.loads.
    text = json.dumps(value, ensure_ascii=ascii_only)
    codec = jsonc.select(name)
    assert outcome(codec.loads, text) == outcome(json.loads, text)
    raw = text.encode("utf-8", "surrogatepass")
    assert outcome(codec.loads, raw) == outcome(json.loads, raw)


@pytest.mark.parametrize("name", CODECS)
@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=64) | st.text(alphabet='{}[]":,0123456789.eE+-tfnul\\ "\ud800a', max_size=40))
def test_decodes_garbage_exactly_as_json(name: str, raw: bytes | str) -> None:
    assert outcome(jsonc.select(name).loads, raw) == outcome(json.loads, raw)


@pytest.mark.parametrize("name", CODECS)
@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_encodes_compact_json_that_reads_back(name: str, value: Any) -> None:
    encoded = jsonc.select(name).dumps_bytes(value)
    assert isinstance(encoded, bytes)
    back = json.loads(encoded)
    if isinstance(value, float) and math.isnan(value):
        return  # orjson writes NaN as null; json writes the non-JSON token NaN
    if not _has_nonfinite(value):
        assert back == value
    if name == "stdlib":
        assert encoded == json.dumps(value, separators=(",", ":")).encode()


def _has_nonfinite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_nonfinite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nonfinite(v) for v in value)
    return False


@pytest.mark.parametrize("name", CODECS)
def test_encodes_what_orjson_cannot(name: str) -> None:
    codec = jsonc.select(name)
    assert json.loads(codec.dumps_bytes({"n": 2**70})) == {"n": 2**70}
    assert json.loads(codec.dumps_bytes({"s": "\ud800"})) == {"s": "\ud800"}
    assert json.loads(codec.dumps_bytes({1: "x"})) == {"1": "x"}
    assert json.loads(codec.dumps_bytes({"é": "ü"})) == {"é": "ü"}


@pytest.mark.parametrize(("env", "expected"), [("stdlib", "stdlib"), ("orjson", jsonc.select("orjson").name)])
def test_environment_selects_the_codec(env: str, expected: str) -> None:
    out = subprocess.run([sys.executable, "-c", "from shareai.wire import jsonc; print(jsonc.CODEC.name)"],
                         env={**os.environ, jsonc.ENV: env}, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
