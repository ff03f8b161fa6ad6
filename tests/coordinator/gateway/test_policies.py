"""Each routing policy's choice, per-request override and pinning, private keys, through real servers."""

from __future__ import annotations

import random
from typing import Any

import openai
import pytest

from shareai.coordinator.gateway import GatewayOptions
from shareai.coordinator.interfaces import Principal
from tests.coordinator.gateway.helpers import MODEL, StaticDirectory, load, node_route, provider

MSG = [{"role": "user", "content": "hello"}]


async def _route(g: Any, **headers: str) -> str:
    raw = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG,
                                                                   extra_headers=headers or None)
    return str(raw.headers["x-shareai-route"])


class FixedAuthenticator:
    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    async def authenticate(self, token: str | None) -> Principal:
        return self.principal


async def test_cheapest_picks_the_lowest_price_including_the_node_default(fakes: Any, gateway: Any) -> None:
    a, b, node = await fakes(), await fakes(), await fakes()
    node.accept_keys = {"ns_secret"}
    directory = StaticDirectory([node_route("n1", node.base_url, price=(0.5, 0.5))])
    g = await gateway([provider("provider-a", a, price=(0.2, 0.8)), provider("provider-b", b, price=(0.1, 0.4))],
                      directory=directory)
    assert await _route(g) == "provider-b"
    directory.routes = [node_route("n1", node.base_url, price=(0.0, 0.01))]
    assert await _route(g) == "node:n1"
    assert node.keys_seen == ["ns_secret"]  # nodes get the data-plane secret, never a provider key


async def test_fastest_prefers_the_lower_measured_latency(fakes: Any, gateway: Any) -> None:
    # A wide gap (one request pays it), so a scheduling hiccup on a loaded CI machine cannot make
    # the quick provider measure slower than the slow one.
    slow, quick = await fakes(delay=0.6), await fakes()
    g = await gateway([provider("provider-a", slow, price=(0.0, 0.0)), provider("provider-b", quick, price=(9, 9))],
                      policy="fastest")
    for name in ("provider-a", "provider-b"):  # measure both (pinned requests teach the EWMA too)
        await _route(g, **{"x-shareai-route": name})
    assert {await _route(g) for _ in range(3)} == {"provider-b"}
    # the per-request header overrides the configured policy
    assert await _route(g, **{"x-shareai-policy": "cheapest"}) == "provider-a"


async def test_least_loaded_reads_heartbeat_load(fakes: Any, gateway: Any) -> None:
    n1, n2 = await fakes(), await fakes()
    directory = StaticDirectory([node_route("n1", n1.base_url, node_load=load(slots=2, busy=2, queue=1)),
                                 node_route("n2", n2.base_url, node_load=load(slots=2, busy=1))])
    g = await gateway([], directory=directory, policy="least-loaded")
    assert await _route(g) == "node:n2"
    directory.routes = [node_route("n1", n1.base_url, node_load=load(slots=4, busy=0)),
                        node_route("n2", n2.base_url, node_load=load(slots=2, busy=1))]
    assert await _route(g) == "node:n1"


async def test_prefer_nodes_overflows_to_providers_when_nodes_are_saturated(fakes: Any, gateway: Any) -> None:
    a, node = await fakes(), await fakes()
    directory = StaticDirectory([node_route("n1", node.base_url, price=(5.0, 5.0))])
    g = await gateway([provider("provider-a", a, price=(0.0, 0.0))], directory=directory, policy="prefer-nodes")
    assert await _route(g) == "node:n1"
    directory.routes = [node_route("n1", node.base_url, node_load=load(slots=1, busy=1, queue=0))]
    assert await _route(g) == "provider-a"
    directory.routes = []  # offline or away: out of the directory
    assert await _route(g) == "provider-a"


async def test_nodes_only_never_uses_a_provider(fakes: Any, gateway: Any) -> None:
    a, node = await fakes(), await fakes()
    directory = StaticDirectory([node_route("n1", node.base_url, price=(9.0, 9.0))])
    g = await gateway([provider("provider-a", a, price=(0.0, 0.0))], directory=directory)
    assert await _route(g, **{"x-shareai-policy": "nodes-only"}) == "node:n1"
    node.fail_status = 500  # the node fails: nodes-only must not fall back to the provider
    with pytest.raises(openai.APIStatusError) as exc:
        await _route(g, **{"x-shareai-policy": "nodes-only"})
    assert exc.value.status_code == 502
    directory.routes = []
    with pytest.raises(openai.APIStatusError) as none:
        await _route(g, **{"x-shareai-policy": "nodes-only"})
    assert none.value.status_code == 503
    assert a.calls == 0


async def test_router_keeps_a_stand_in_private_principal_on_nodes_and_refuses_a_provider_pin(
        fakes: Any, gateway: Any) -> None:
    """The router's rule alone (stand-in directory and authenticator); the same promise with the real
    registry, governance and agents: tests/coordinator/test_tenant_isolation.py."""
    a, node = await fakes(), await fakes()
    directory = StaticDirectory([node_route("n1", node.base_url, price=(9.0, 9.0))])
    principal = Principal(key_id="k1", org="org-a", private=True, policy="cheapest")
    g = await gateway([provider("provider-a", a, price=(0.0, 0.0))], directory=directory,
                      authenticator=FixedAuthenticator(principal))
    assert await _route(g, **{"x-shareai-policy": "cheapest"}) == "node:n1"
    with pytest.raises(openai.PermissionDeniedError):
        await _route(g, **{"x-shareai-route": "provider-a"})
    assert [m.id async for m in g.client.models.list()] == [MODEL]
    assert a.calls == 0


async def test_principal_policy_and_allowed_models(fakes: Any, gateway: Any) -> None:
    a, b = await fakes(), await fakes()
    principal = Principal(key_id="k1", org=None, policy="weighted", allowed_models=frozenset({MODEL}))
    g = await gateway([provider("provider-a", a, price=(0.0, 0.0), weight=0.0),
                       provider("provider-b", b, price=(1.0, 1.0), weight=1.0),
                       provider("provider-c", b, model="forbidden")],
                      authenticator=FixedAuthenticator(principal))
    # the org's policy (weighted; provider-a has weight 0) beats the config default (cheapest)
    assert {await _route(g) for _ in range(4)} == {"provider-b"}
    with pytest.raises(openai.PermissionDeniedError):
        await g.client.chat.completions.create(model="forbidden", messages=MSG)
    assert [m.id async for m in g.client.models.list()] == [MODEL]


async def test_weighted_spreads_by_weight(fakes: Any, gateway: Any) -> None:
    a, b = await fakes(), await fakes()
    g = await gateway([provider("provider-a", a, weight=3.0), provider("provider-b", b, weight=1.0)],
                      policy="weighted", settings=GatewayOptions(rng=random.Random(7)))
    routes = [await _route(g) for _ in range(40)]
    assert routes.count("provider-a") > routes.count("provider-b") > 0


async def test_pinning_routes_to_what_was_named(fakes: Any, gateway: Any) -> None:
    a, b, n1, n2 = await fakes(), await fakes(), await fakes(), await fakes()
    directory = StaticDirectory([node_route("n1", n1.base_url, price=(9, 9)), node_route("n2", n2.base_url)])
    g = await gateway([provider("provider-a", a, price=(0.0, 0.0)), provider("provider-b", b, price=(1, 1))],
                      directory=directory)
    assert await _route(g, **{"x-shareai-route": "provider-b"}) == "provider-b"
    assert await _route(g, **{"x-shareai-route": "node"}) == "node:n2"  # cheapest node
    assert await _route(g, **{"x-shareai-route": "node:n1"}) == "node:n1"
    with pytest.raises(openai.BadRequestError) as exc:
        await _route(g, **{"x-shareai-route": "provider-z"})
    assert exc.value.body["param"] == "x-shareai-route"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as gone:  # permanent, like an unknown provider name
        await _route(g, **{"x-shareai-route": "node:absent"})
    assert gone.value.code == "unknown_route"
    with pytest.raises(openai.BadRequestError):
        await _route(g, **{"x-shareai-policy": "random"})
