from __future__ import annotations

from typing import Any

import pytest

from shareai.agent.backends.json_schema import unenforced


def test_enforceable_schemas_pass() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "title": "t", "type": "object",
        "properties": {"a": {"type": "string", "maxLength": 3, "description": "d"},
                       "b": {"type": "array", "items": {"$ref": "#/$defs/n"}, "minItems": 1},
                       "c": {"anyOf": [{"type": "null"}, {"format": "date", "type": "string"}]}},
        "$defs": {"n": {"enum": [1, 2]}},
        "required": ["a"], "additionalProperties": False,
    }
    assert unenforced(schema) is None


@pytest.mark.parametrize(("schema", "found"), [
    ({"type": "integer", "minimum": 0}, ("minimum", "")),
    ({"properties": {"x": {"type": "array", "items": {"multipleOf": 2}}}}, ("multipleOf", "/properties/x/items")),
    ({"anyOf": [{"type": "string"}, {"not": {"type": "null"}}]}, ("not", "/anyOf/1")),
    ({"$defs": {"d": {"uniqueItems": True}}}, ("uniqueItems", "/$defs/d")),
    ({"type": "string", "format": "email"}, ("format: email", "")),
    ({"$ref": "https://example.com/s.json"}, ("$ref: https://example.com/s.json", "")),
    ({"additionalProperties": {"exclusiveMaximum": 1}}, ("exclusiveMaximum", "/additionalProperties")),
])
def test_unenforced_keywords_are_found_with_their_path(schema: dict[str, Any], found: tuple[str, str]) -> None:
    assert unenforced(schema) == found
