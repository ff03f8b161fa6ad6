"""Deterministic answers a fake provider gives to tool and structured-output requests.

    sample(schema)                        a value that validates against a JSON schema (the subset
                                          clients generate: objects, arrays, scalars, enum/const,
                                          anyOf/oneOf, local $ref into $defs/definitions)
    tool_call(body)                       the function a chat request should call now, or None:
                                          tools offered, tool_choice not "none", and the last message
                                          is not already a tool/function result
    structured(body)                      the JSON text a response_format json_schema/json_object asks for

Nothing here is random, so a client test can assert the exact arguments a "model" chose.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 8


def sample(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A value valid against `schema` (the first choice of every alternative, the minimum size)."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    if "$ref" in schema and isinstance(schema["$ref"], str):
        return sample(_resolve(schema["$ref"], root), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return sample((non_null or options)[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        raw_props = schema.get("properties")
        props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
        raw_required = schema.get("required")
        required: list[Any] = raw_required if isinstance(raw_required, list) else list(props)
        return {name: sample(props[name], root, depth + 1) for name in props if name in required}
    if kind == "array":
        return [sample(schema.get("items"), root, depth + 1)] * int(schema.get("minItems", 1) or 1)
    if kind == "string":
        return "x" * int(schema.get("minLength", 1) or 1)
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1.5))
    if kind == "boolean":
        return True
    return None


def _resolve(ref: str, root: Any) -> Any:
    if not ref.startswith("#/"):
        return None
    node = root
    for part in ref[2:].split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def tool_call(body: dict[str, Any]) -> dict[str, Any] | None:
    """The `{"name", "arguments"}` of the function this request should call, or None."""
    tools = body.get("tools")
    functions: list[dict[str, Any]] = [
        t["function"] for t in (tools if isinstance(tools, list) else [])
        if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    if not functions or body.get("tool_choice") == "none":
        return None
    messages = body.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    if isinstance(last, dict) and last.get("role") in ("tool", "function"):
        return None  # the result is in: answer in words
    choice = body.get("tool_choice")
    chosen = functions[0]
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        named = choice["function"].get("name")
        chosen = next((f for f in functions if f.get("name") == named), chosen)
    params = chosen.get("parameters") or {"type": "object", "properties": {}}
    return {"name": str(chosen.get("name", "f")), "arguments": json.dumps(sample(params), separators=(",", ":"))}


def tool_result_reply(body: dict[str, Any]) -> str | None:
    """After a tool result: a reply quoting it (so tests see the result came back), else None."""
    messages = body.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    if isinstance(last, dict) and last.get("role") in ("tool", "function"):
        content = last.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return f"The tool said: {content}"
    return None


def structured(body: dict[str, Any]) -> str | None:
    """The JSON answer `response_format` asks for, or None for plain text."""
    rf = body.get("response_format")
    if not isinstance(rf, dict):
        return None
    if rf.get("type") == "json_schema":
        js = rf.get("json_schema")
        schema = js.get("schema") if isinstance(js, dict) else None
        return json.dumps(sample(schema or {"type": "object"}))
    if rf.get("type") == "json_object":
        return json.dumps({"reply": "ok"})
    return None
