"""The API description against a spec validator and against the code.

A real coordinator (every part, as `build_coordinator` wires it) on port 0: its aiohttp router is
walked, and every route it serves must be described with its method, and every described operation
must be served, so a new route without a description (or a description of a route that went away)
fails here. `GET /openapi.json` is served without a key, and carries nothing of the deployment.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from shareai.coordinator.app import Coordinator
from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import CoordinatorConfig, ProviderConfig, ProviderModel
from shareai.coordinator.openapi import build_document, described_operations, served_operations

ADMIN_KEY = "sa-admin-openapi-0123456789abcdef"
PROVIDER_KEY = "pk-provider-secret-4242"


def make_config(data_dir: Path) -> CoordinatorConfig:
    return CoordinatorConfig(
        http_host="127.0.0.1", http_port=0, grpc_host="127.0.0.1", grpc_port=0, data_dir=data_dir,
        api_keys=["sk-bootstrap-secret-777"], metrics_token="metrics-secret-31337",
        providers=[ProviderConfig(name="provider-secretive", base_url="http://127.0.0.1:9/v1",
                                  api_keys=[PROVIDER_KEY], models=[ProviderModel("gemma", "gemma", 1.0, 2.0)])],
    ).validate()


async def fetch_description(coord: Coordinator) -> tuple[str, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(coord.url + "/openapi.json") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        raw = await resp.text()
    return raw, json.loads(raw)


@pytest.fixture
async def coord(tmp_path: Path) -> AsyncIterator[Coordinator]:
    c = build_coordinator(make_config(tmp_path / "data"), admin_key=ADMIN_KEY)
    await c.start()
    try:
        yield c
    finally:
        await c.stop(grace_s=1.0)


def test_the_description_is_valid_openapi_3_1() -> None:
    doc = build_document()
    assert doc["openapi"].startswith("3.1.")
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema


def test_the_validator_catches_a_broken_description() -> None:
    # The check above can fail: a parameter without `in`, and a path template with an undeclared parameter.
    doc = build_document()
    del doc["paths"]["/v1/models/{model}"]["get"]["parameters"][0]["in"]
    with pytest.raises(OpenAPIValidationError):
        validate(doc)
    doc = build_document()
    doc["paths"]["/admin/v1/nodes/{node_id}"]["get"]["parameters"] = []
    with pytest.raises(OpenAPIValidationError):
        validate(doc)


async def test_every_route_is_described_and_every_description_is_served(coord: Coordinator) -> None:
    served = served_operations(coord.http_app)
    described = described_operations(build_document())
    assert served - described == set(), "routes without a description"
    assert described - served == set(), "described operations the coordinator does not serve"
    # The walk sees what the task is about, so an empty router cannot pass it.
    for op in [("post", "/v1/chat/completions"), ("get", "/v1/models/{model}"), ("delete", "/admin/v1/orgs/{name}"),
               ("post", "/admin/v1/faults"), ("get", "/openapi.json")]:
        assert op in served


async def test_a_new_route_without_a_description_is_caught(coord: Coordinator) -> None:
    async def handler(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response()

    app = coord.http_app
    app.router._frozen = False  # a started app's router is frozen; this test adds one route after start
    app.router.add_post("/admin/v1/undocumented/{id}", handler)
    assert served_operations(coord.http_app) - described_operations(build_document()) == {
        ("post", "/admin/v1/undocumented/{id}")}


def test_every_operation_documents_its_errors_as_the_openai_error_object() -> None:
    doc = build_document()
    responses = doc["components"]["responses"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op.get("operationId"), (method, path)
            assert "security" in op, (method, path)
            for status, response in op["responses"].items():
                if int(status) < 400:
                    continue
                name = response["$ref"].rsplit("/", 1)[1]
                schema = responses[name]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    error = doc["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["required"] == ["message", "type", "param", "code"]


def test_admin_routes_need_the_admin_key_and_v1_routes_an_org_key() -> None:
    doc = build_document()
    for path, item in doc["paths"].items():
        for op in item.values():
            schemes = {name for requirement in op["security"] for name in requirement}
            if path.startswith("/admin/v1/"):
                assert schemes == {"adminKey"}, path
                assert "401" in op["responses"], path
            elif path.startswith("/v1/"):
                assert schemes == {"orgKey", "azureApiKey"}, path
                assert "401" in op["responses"], path


async def test_openapi_json_is_served_without_a_key_and_holds_no_secrets(coord: Coordinator) -> None:
    raw, doc = await fetch_description(coord)
    assert doc == json.loads(json.dumps(build_document()))  # every part composed: every route described
    assert {"/v1/chat/completions", "/admin/v1/orgs"} <= set(doc["paths"])
    for secret in (ADMIN_KEY, PROVIDER_KEY, "sk-bootstrap-secret-777", "metrics-secret-31337", "provider-secretive",
                   "127.0.0.1:9", str(coord.config.data_dir)):
        assert secret not in raw
    # Streaming is described: chat and text completions answer text/event-stream too.
    for path in ("/v1/chat/completions", "/v1/completions"):
        assert "text/event-stream" in doc["paths"][path]["post"]["responses"]["200"]["content"]
    headers = doc["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["headers"]
    assert {"x-shareai-route", "x-shareai-attempts", "x-shareai-cost-usd", "x-shareai-cache"} <= set(headers)


async def test_without_governance_the_served_description_leaves_out_its_routes(tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "data")
    cfg.governance.enabled = False
    coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
    await coord.start()
    try:
        _, doc = await fetch_description(coord)
        assert described_operations(doc) == served_operations(coord.http_app)
        assert "/admin/v1/orgs" not in doc["paths"] and "/admin/v1/usage" not in doc["paths"]
        assert {"/v1/chat/completions", "/admin/v1/nodes", "/admin/v1/faults"} <= set(doc["paths"])
        validate(doc)
    finally:
        await coord.stop(grace_s=1.0)
