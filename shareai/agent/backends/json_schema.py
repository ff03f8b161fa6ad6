"""Which JSON-schema keywords a llama.cpp grammar can enforce, so the rest is a 400, not a silent drop.

llama-cpp-python turns a `response_format` schema into a GBNF grammar, but its converter quietly
ignores keywords it has no rule for (`minimum`, `multipleOf`, `uniqueItems`, `not`, ...): the
output would then parse yet break the schema the client asked for. `unenforced(schema)` finds the
first such keyword before any work is done::

    unenforced({"type": "integer", "maximum": 9})   # -> ("maximum", "")
    unenforced({"properties": {"n": {"enum": [1, 2]}}})   # -> None

Remote `$ref`s are refused too: the grammar may only use what the request carries.
"""

from __future__ import annotations

from typing import Any

# What the converter turns into grammar rules (llama-cpp-python 0.3: llama_grammar.SchemaConverter).
ENFORCED = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems",
    "maxItems", "enum", "const", "oneOf", "anyOf", "allOf", "pattern", "format", "minLength", "maxLength",
    "$ref", "$defs", "definitions",
})
# Annotations: they do not constrain the output.
ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$schema", "$id", "$comment"})
FORMATS = frozenset({"date", "time", "date-time", "uuid", "uuid1", "uuid2", "uuid3", "uuid4", "uuid5"})

_SCHEMA_MAPS = ("properties", "$defs", "definitions")
_SCHEMA_LISTS = ("prefixItems", "oneOf", "anyOf", "allOf")


def unenforced(schema: Any, path: str = "") -> tuple[str, str] | None:
    """The first keyword (and the JSON path of its schema) the grammar would not enforce, or None."""
    if not isinstance(schema, dict):
        return None  # `true`/`false` schemas and malformed parts: the converter itself rejects those
    for key, value in schema.items():
        if key not in ENFORCED and key not in ANNOTATIONS:
            return key, path
        if key == "format" and value not in FORMATS:
            return f"format: {value}", path
        if key == "$ref" and not (isinstance(value, str) and value.startswith("#")):
            return f"$ref: {value}", path
    subs: list[tuple[Any, str]] = []
    for key in _SCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            subs += [(v, f"{path}/{key}/{k}") for k, v in schema[key].items()]
    for key in _SCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            subs += [(v, f"{path}/{key}/{i}") for i, v in enumerate(schema[key])]
    items = schema.get("items")
    if isinstance(items, list):
        subs += [(v, f"{path}/items/{i}") for i, v in enumerate(items)]
    else:
        subs.append((items, f"{path}/items"))
    subs.append((schema.get("additionalProperties"), f"{path}/additionalProperties"))
    for sub, sub_path in subs:
        found = unenforced(sub, sub_path)
        if found:
            return found
    return None
