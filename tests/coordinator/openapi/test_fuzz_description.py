"""Schemathesis fuzzes the coordinator against its own description (`GET /openapi.json`).

A real coordinator (every part, `build_coordinator`) on port 0 with a fake provider (a real HTTP
server) and a node agent on the light in-process backend, enrolled through the admin API, runs on
its own event loop in a thread; schemathesis calls it over HTTP with a real org key on `/v1` and
the admin key on `/admin/v1`. Every operation gets the description's examples, schemathesis's
boundary cases (coverage phase) and a bounded number of generated requests, valid and invalid
(`max_examples`, derandomized: the same requests on every run), and every answer must:

- not be a server error (5xx), save the documented 503 `no_target_available` when a route pin or
  the `nodes-only` policy rules out every live target;
- have a documented status code, content type, headers and body (the OpenAI error object on errors);
- reject invalid input with a 4xx (negative data).

Destructive admin operations (delete an org, revoke a key or node, drain a node, the fault switch)
are fuzzed in a test of their own that runs last, and separately called on throwaway resources,
so the fuzz run of the other operations always has its org, key, node and provider.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import (  # the built-in checks, by name (the module resolves them)
    CheckContext,
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shareai.agent.backends.fake import FakeBackend
from shareai.agent.control.enroll import enroll
from shareai.agent.control.node import NodeAgent
from shareai.agent.slots import ModelPool
from shareai.coordinator.compose import ComposedCoordinator, build_coordinator
from shareai.coordinator.config import CoordinatorConfig, ProviderConfig, ProviderModel
from shareai.coordinator.openapi import build_document
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.testing.fake_provider import FakeProvider
from tests.agent.control.conftest import Source, agent_config, until

T = TypeVar("T")
ADMIN_KEY = "sa-admin-schemathesis-0123456789abcdef"
MODEL = "m1"  # served by the provider and by the node
ORG = "fz-main"
MAX_EXAMPLES = 20
DESTRUCTIVE = {
    ("DELETE", "/admin/v1/orgs/{name}"),
    ("POST", "/admin/v1/keys/{id}/revoke"),
    ("POST", "/admin/v1/nodes/{node_id}/revoke"),
    ("POST", "/admin/v1/nodes/{node_id}/drain"),
    ("POST", "/admin/v1/faults"),
}


def _fuzz_document() -> dict[str, Any]:
    """The served description, with this deployment's model name as the one a request names when
    valid (a random name is a 404 before any routing, which would leave the pipeline unexercised)."""
    doc = build_document()
    for name in ("ChatCompletionRequest", "CompletionRequest", "EmbeddingsRequest"):
        request = doc["components"]["schemas"][name]
        request["properties"]["model"] = {"type": "string", "enum": [MODEL]}
        for example in request["examples"]:  # the description's own examples, as the examples phase sends them
            example["model"] = MODEL
    return doc


schema = schemathesis.openapi.from_dict(_fuzz_document())
# Credentials are the world's (`World.auth`), never generated: a generated, malformed Authorization
# header would be replaced by the real one before sending, and then count as "invalid data accepted".
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, with_security_parameters=False,
                                modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
schema.config.phases.update(phases=["examples", "coverage", "fuzzing"])


class Served:
    """The coordinator, provider and agent on a private event loop in a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="schemathesis-coordinator", daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


@dataclass
class World:
    served: Served
    coord: ComposedCoordinator
    provider: FakeProvider
    agent: NodeAgent
    org_key: str
    node_id: str
    http: requests.Session
    # (method, path template, status, content type, x-shareai-route) of every fuzzed answer
    seen: list[tuple[str, str, int, str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.coord.url

    def auth(self, path: str) -> dict[str, str]:
        if path.startswith("/v1/"):
            return {"Authorization": f"Bearer {self.org_key}"}
        if path.startswith("/admin/") or path == "/metrics":
            return {"Authorization": f"Bearer {ADMIN_KEY}"}
        return {}

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = self.http.request(method, self.url + path, json=body, headers=self.auth(path), timeout=10)
        assert resp.status_code < 300, resp.text
        return resp.json()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    served = Served()
    root: Path = tmp_path_factory.mktemp("schemathesis")
    http = requests.Session()

    async def start() -> tuple[ComposedCoordinator, FakeProvider]:
        provider = await FakeProvider(model=MODEL, reply="from the provider", name="a").start()
        cfg = CoordinatorConfig(
            http_host="127.0.0.1", http_port=0, grpc_host="127.0.0.1", grpc_port=0, data_dir=root / "coord",
            heartbeat_interval_s=5.0,
            providers=[ProviderConfig(name="provider-a", base_url=provider.base_url, api_keys=["pk-test"],
                                      models=[ProviderModel(MODEL, MODEL, 1.0, 2.0, embeddings=True)])],
        ).validate()
        coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
        await coord.start()
        return coord, provider

    coord, provider = served.call(start())
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    for path, body in (("/admin/v1/orgs", {"name": ORG}),):
        assert http.post(coord.url + path, json=body, headers=headers, timeout=10).status_code == 201
    org_key = http.post(coord.url + "/admin/v1/keys", json={"org": ORG}, headers=headers, timeout=10).json()["secret"]
    token = http.post(coord.url + "/admin/v1/tokens", json={"org": ORG}, headers=headers, timeout=10).json()["token"]

    async def start_agent() -> tuple[NodeAgent, str]:
        ident = await enroll(coord.grpc_target, token, data_dir=root / "node", name="fz-node",
                             host=pb.HostInfo(hostname="fz-node"))
        agent = NodeAgent(agent_config(price_input_per_mtok=0.5, price_output_per_mtok=0.5), ident,
                          pools=[ModelPool(MODEL, [FakeBackend(reply="from the node")], queue_limit=8)],
                          host_info=pb.HostInfo(hostname="fz-node"), utilisation=Source(), sample_period_s=3600.0)
        await agent.start()
        await until(lambda: coord.fleet.directory.routes_for(MODEL, ORG), what="the node")
        return agent, ident.node_id

    agent, node_id = served.call(start_agent())
    w = World(served, coord, provider, agent, org_key, node_id, http)
    try:
        yield w
    finally:
        async def stop() -> None:
            await agent.stop()
            await coord.stop(grace_s=1.0)
            await provider.stop()
        served.call(stop())
        served.close()
        http.close()


def no_undocumented_server_error(ctx: CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """`not_a_server_error`, less the one 5xx a well-formed request may get by design: 503
    `no_target_available` when the request itself ruled out every live target, with an
    `x-shareai-route` pin naming none, or the `nodes-only` policy for what no node serves (embeddings)."""
    headers = case.headers or {}
    narrowed = bool(headers.get("x-shareai-route")) or headers.get("x-shareai-policy") == "nodes-only"
    if response.status_code == 503 and narrowed:
        body = response.json()
        assert body["error"]["code"] == "no_target_available", body
        return
    not_a_server_error(ctx, response, case)


CHECKS = [no_undocumented_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]


def _header(response: schemathesis.Response, name: str) -> str:
    return (response.headers.get(name) or [""])[0]  # lowercase names, lists of values


def _call(world: World, case: schemathesis.Case) -> schemathesis.Response:
    response = case.call(base_url=world.url, session=world.http, headers=world.auth(case.path), timeout=15)
    world.seen.append((case.method.upper(), case.path, response.status_code,
                       _header(response, "content-type").split(";")[0], _header(response, "x-shareai-route")))
    case.validate_response(response, checks=CHECKS)
    return response


@schema.exclude(lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in DESTRUCTIVE).parametrize()
def test_operations_conform_to_the_description(case: schemathesis.Case, world: World) -> None:
    _call(world, case)


@schema.include(lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in DESTRUCTIVE).parametrize()
def test_destructive_operations_conform_to_the_description(case: schemathesis.Case, world: World) -> None:
    _call(world, case)


def test_the_fuzz_run_reached_the_routes(world: World) -> None:
    """The run above is worth something only if valid requests got through to real answers: every
    generation endpoint answered 200 (chat and text completions also as streams), from the provider
    and from the node, and invalid ones were refused with 4xx."""
    seen = world.seen
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
        statuses = {status for _, p, status, _, _ in seen if p == path}
        assert 200 in statuses and any(400 <= s < 500 for s in statuses), (path, statuses)
    for path in ("/v1/chat/completions", "/v1/completions"):
        streams = [status for _, p, status, media, _ in seen if p == path and media == "text/event-stream"]
        assert 200 in streams, path
    routes = {route for _, p, status, _, route in seen if p.startswith("/v1/") and status == 200}
    assert {"provider-a", f"node:{world.node_id}"} <= routes, routes
    assert any(p == "/admin/v1/orgs" and m == "POST" and status == 201 for m, p, status, _, _ in seen)


def test_operations_on_real_resources_conform_to_the_description(world: World) -> None:
    """The operations that name a resource (an org, key, node, route), called on real ones, where
    generated names only ever meet 404: their 200 answers must match the description too. The
    resources are throwaway (a spare org with its own key and node), so nothing else is disturbed."""
    spare = "fz-spare"
    world.admin("POST", "/admin/v1/orgs", {"name": spare})
    key_id = world.admin("POST", "/admin/v1/keys", {"org": spare})["id"]
    other_key = world.admin("POST", "/admin/v1/keys", {"org": spare})["id"]
    token = world.admin("POST", "/admin/v1/tokens", {"org": spare})["token"]

    async def enroll_spare() -> str:
        ident = await enroll(world.coord.grpc_target, token, data_dir=world.coord.config.data_dir.parent / "spare",
                             name="fz-spare-node", host=pb.HostInfo(hostname="fz-spare"))
        return ident.node_id

    spare_node = world.served.call(enroll_spare())
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/admin/v1/nodes/{node_id}", {"path_parameters": {"node_id": world.node_id}}),
        ("GET", "/admin/v1/routes", {"query": {"model": MODEL}}),
        ("GET", "/v1/models/{model}", {"path_parameters": {"model": MODEL}}),
        ("POST", "/admin/v1/orgs/{name}", {"path_parameters": {"name": spare}, "body": {"cache": "all"}}),
        ("POST", "/admin/v1/limits", {"body": {"org": spare, "key": key_id, "rpm": 5}}),
        ("POST", "/admin/v1/keys/{id}/rotate", {"path_parameters": {"id": key_id}, "body": {"grace": "1h"}}),
        ("POST", "/admin/v1/keys/{id}/revoke", {"path_parameters": {"id": key_id}}),
        ("POST", "/admin/v1/faults", {"body": {"route": "provider-a", "enabled": True}}),
        ("POST", "/admin/v1/faults", {"body": {"route": "provider-a", "enabled": False}}),
        ("POST", "/admin/v1/nodes/{node_id}/revoke", {"path_parameters": {"node_id": spare_node}}),
        ("DELETE", "/admin/v1/orgs/{name}", {"path_parameters": {"name": spare}}),
    ]
    for method, path, kwargs in calls:
        response = _call(world, schema[path][method].Case(**kwargs))
        assert response.status_code < 300, (method, path, response.text)
    # The org went with its other key: that key is gone too (404 now, as the description says).
    response = _call(world, schema["/admin/v1/keys/{id}/revoke"]["POST"].Case(path_parameters={"id": other_key}))
    assert response.status_code == 404


def test_a_content_part_whose_type_is_a_list_is_answered_not_a_500(world: World) -> None:
    """Regression (found by this fuzz run): such a part made the quota bound raise, a 500. The gateway
    forwards parts it does not read, so the provider answers it."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": [{"type": [1], "text": "hi"},
                                                                     {"type": {"x": 1}}]}]}
    resp = world.http.post(world.url + "/v1/chat/completions", json=body, headers=world.auth("/v1/"), timeout=15)
    assert resp.status_code == 200, resp.text
    assert resp.json()["object"] == "chat.completion"
