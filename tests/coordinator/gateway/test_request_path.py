"""The request path's promises (issue 11): one lookup of the model's routes per request, the
admission bounded by the dearest of those routes, usage stamped with the injected clock, and route
health answered by its one owner (`RouteHealth`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from shareai.coordinator.config import CoordinatorConfig, NodePricing, ProviderConfig, ProviderModel
from shareai.coordinator.gateway import GatewayOptions
from shareai.coordinator.gateway.breaker import CLOSED, HALF_OPEN, OPEN
from shareai.coordinator.gateway.fallbacks import NoopGovernor
from shareai.coordinator.gateway.health import InjectedFault, RouteHealth
from shareai.coordinator.gateway.targets import node_target, provider_target
from shareai.coordinator.interfaces import NodeRoute, Principal
from shareai.coordinator.price import Price
from tests.coordinator.gateway.helpers import ADMIN_KEY, KEY, MODEL, FakeClock, StaticDirectory, node_route, provider
from tests.coordinator.parts import gateway_coordinator


class CountingDirectory(StaticDirectory):
    """A `StaticDirectory` that counts every walk of the fleet (each `routes_for`/`model_names`)."""

    walks: int = 0

    def routes_for(self, model: str, org: str | None) -> list[NodeRoute]:
        self.walks += 1
        return super().routes_for(model, org)

    def model_names(self, org: str | None) -> set[str]:
        self.walks += 1
        return super().model_names(org)


class PriceRecordingGovernor(NoopGovernor):
    """The no-op governor, remembering the price bound each admission was given."""

    def __init__(self) -> None:
        super().__init__()
        self.prices: list[Price | None] = []

    async def admit(self, principal: Principal, *, model: str, prompt_tokens: int, max_tokens: int,
                    max_price: Price | None = None) -> Any:
        self.prices.append(max_price)
        return await super().admit(principal, model=model, prompt_tokens=prompt_tokens, max_tokens=max_tokens,
                                   max_price=max_price)


async def test_a_node_request_walks_the_fleet_once(gateway: Any, fakes: Any) -> None:
    node = await fakes(model=MODEL, name="node")
    directory = CountingDirectory(routes=[node_route("n1", node.base_url)])
    g = await gateway([], directory=directory)
    raw = await g.client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-shareai-route"] == "node:n1"
    # Whether the model is known, the price bound and the candidates all come from one lookup.
    assert directory.walks == 1


async def test_admission_is_bounded_by_the_dearest_route_of_the_lookup(gateway: Any, fakes: Any) -> None:
    fake = await fakes(model=MODEL)
    node = await fakes(model=MODEL, name="node")
    # The provider is the dearest for input, the node (advertising its own price) for output.
    directory = StaticDirectory(routes=[node_route("n1", node.base_url, price=(None, 50.0))])
    governor = PriceRecordingGovernor()
    g = await gateway([provider("provider-a", fake, price=(0.1, 0.4))], directory=directory, governor=governor)
    await g.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert governor.prices == [Price(0.1, 50.0)]


async def test_usage_records_carry_the_injected_clock(tmp_path: Path, fakes: Any) -> None:
    fake = await fakes(model=MODEL)
    cfg = CoordinatorConfig(http_host="127.0.0.1", http_port=0, grpc_host="127.0.0.1", grpc_port=0,
                            data_dir=tmp_path / "coord", api_keys=[KEY],
                            providers=[provider("provider-a", fake)]).validate()
    governor = NoopGovernor()
    clock = FakeClock(1_800_000_000.0)
    coord = gateway_coordinator(cfg, admin_key=ADMIN_KEY, governor=governor, settings=GatewayOptions(), clock=clock)
    await coord.start()
    try:
        async with AsyncOpenAI(base_url=coord.url + "/v1", api_key=KEY, max_retries=0, timeout=15) as client:
            await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
            clock.advance(60.0)
            with pytest.raises(openai.NotFoundError):
                await client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    finally:
        await coord.stop()
    assert [(r.status, r.ts) for r in governor.records] == [(200, 1_800_000_000.0), (404, 1_800_000_060.0)]


def test_route_health_answers_for_breakers_keys_and_faults() -> None:
    clock = FakeClock()
    health = RouteHealth(GatewayOptions(breaker_threshold=1, breaker_cooldown_s=10.0, clock=clock))
    node = node_target(node_route("n1", "http://127.0.0.1:9/v1"), NodePricing(), 60.0)
    prov = provider_target(ProviderConfig(name="p", base_url="http://127.0.0.1:9/v1", api_keys=["k1", "k2"],
                                          models=[ProviderModel(MODEL, MODEL, 1.0, 1.0)]),
                           ProviderModel(MODEL, MODEL, 1.0, 1.0))
    # No breaker yet reads closed, and nothing is open.
    assert health.state("p") == CLOSED and health.open_circuits() == 0
    health.record_failure("p")
    health.record_failure(node.route)
    assert health.state("p") == OPEN and health.open_circuits() == 2
    assert not health.usable(prov, clock()) and not health.usable(node, clock())
    clock.advance(10.0)
    # Cooldown over: a node gets a trial request, a provider waits for its probe (none without a session).
    assert health.state("p") == HALF_OPEN
    assert health.usable(node, clock()) and not health.usable(prov, clock())
    health.record_success("p")
    assert health.state("p") == CLOSED and health.usable(prov, clock())
    # Keys: a node's secret; a provider's pool skips a refused key.
    assert health.key_for(node) == "ns_secret"
    assert health.key_for(prov) == "k1"
    assert health.refuse_key(prov, "k1", 401, None) == 2
    assert health.key_for(prov) == "k2"
    # The fault switch fails calls at the transport and counts them.
    assert health.fault("p", True) == 0
    with pytest.raises(InjectedFault):
        health.check_fault("p")
    assert health.faulted("p") and health.faults() == {"p": 1}
    assert health.fault("p", False) == 1 and not health.faulted("p")
    health.check_fault("p")
