"""Pure pieces: route prices (advertised, default, energy), utilisation and policy order."""

from __future__ import annotations

import dataclasses
import random

from shareai.coordinator.config import NodePricing, ProviderConfig, ProviderModel
from shareai.coordinator.gateway.policy import RouteContext, order, utilisation
from shareai.coordinator.gateway.stats import StatsBook, TargetStats, ewma
from shareai.coordinator.gateway.targets import node_target, provider_target
from tests.coordinator.gateway.helpers import load, node_route

CTX = RouteContext(stream=False, prompt_tokens=100, max_tokens=100, provider_capacity=4)


def _provider(name: str, price: tuple[float, float], weight: float = 1.0) -> ProviderConfig:
    return ProviderConfig(name=name, base_url="http://127.0.0.1:1/v1", weight=weight,
                          models=[ProviderModel(name="m", upstream="up", input_per_mtok=price[0],
                                                output_per_mtok=price[1])])


def test_node_price_is_advertised_else_the_nodes_default_else_energy() -> None:
    pricing = NodePricing(input_per_mtok=1.0, output_per_mtok=2.0, energy_per_kwh=0.3)
    advertised = node_target(node_route("a", "http://n/v1", price=(0.5, None)), pricing, 60)
    assert (advertised.input_per_mtok, advertised.output_per_mtok) == (0.5, 2.0)
    default = node_target(node_route("b", "http://n/v1"), pricing, 60)
    assert default.cost(1_000_000, 1_000_000, 1.0) == 3.0
    free = NodePricing(energy_per_kwh=0.3)
    route = node_route("c", "http://n/v1")
    powered = node_target(dataclasses.replace(route, power_w=300.0), free, 60)
    # 300 W for 2 s = 1/6000 kWh at $0.3
    assert abs(powered.cost(10, 10, 2.0) - 300 * 2 / 3_600_000 * 0.3) < 1e-12
    assert node_target(route, free, 60).cost(10, 10, 2.0) == 0.0  # no power reading: no energy cost


def test_utilisation_adds_our_inflight_to_heartbeat_load() -> None:
    stats = StatsBook()
    node = node_target(node_route("a", "http://n/v1", node_load=load(slots=4, busy=1, queue=1)), NodePricing(), 60)
    prov = provider_target(_provider("p", (0, 0)), _provider("p", (0, 0)).models[0])
    assert utilisation(node, stats, CTX) == 0.5
    stats.get("node:a").inflight = 2
    stats.get("p").inflight = 2
    assert utilisation(node, stats, CTX) == 1.0
    assert utilisation(prov, stats, CTX) == 0.5


def test_cheapest_uses_this_requests_token_mix() -> None:
    in_heavy = _provider("in-heavy", (1.0, 0.0))
    out_heavy = _provider("out-heavy", (0.0, 1.0))
    targets = [provider_target(p, p.models[0]) for p in (in_heavy, out_heavy)]
    long_prompt = RouteContext(stream=False, prompt_tokens=1000, max_tokens=10)
    long_answer = RouteContext(stream=False, prompt_tokens=10, max_tokens=1000)
    rng = random.Random(0)
    assert order("cheapest", targets, stats=StatsBook(), ctx=long_prompt, rng=rng)[0].route == "out-heavy"
    assert order("cheapest", targets, stats=StatsBook(), ctx=long_answer, rng=rng)[0].route == "in-heavy"


def test_fastest_reads_ttft_for_streams_and_latency_otherwise() -> None:
    a, b = _provider("a", (0, 0)), _provider("b", (0, 0))
    targets = [provider_target(p, p.models[0]) for p in (a, b)]
    stats = StatsBook()
    stats._by_route["a"] = TargetStats(latency_ms=100.0, ttft_ms=5.0)
    stats._by_route["b"] = TargetStats(latency_ms=50.0, ttft_ms=20.0)
    rng = random.Random(0)
    assert order("fastest", targets, stats=stats, ctx=CTX, rng=rng)[0].route == "b"
    stream = RouteContext(stream=True, prompt_tokens=1, max_tokens=1)
    assert order("fastest", targets, stats=stats, ctx=stream, rng=rng)[0].route == "a"
    assert ewma(None, 10.0) == 10.0 and ewma(10.0, 20.0) == 13.0
