"""The circuit breaker: pure arithmetic over `now`, then opening and closing through real servers."""

from __future__ import annotations

from typing import Any

from shareai.coordinator.gateway import GatewayOptions
from shareai.coordinator.gateway.breaker import CLOSED, HALF_OPEN, OPEN, Breaker
from shareai.coordinator.gateway.keypool import KeyPool
from tests.coordinator.gateway.helpers import MODEL, FakeClock, StaticDirectory, eventually, node_route, provider

MSG = [{"role": "user", "content": "hello"}]


def test_opens_after_threshold_consecutive_failures_and_cools_down() -> None:
    b = Breaker(threshold=3, cooldown_s=10.0)
    assert not b.record_failure(0.0) and not b.record_failure(1.0)
    b.record_success(1.5)  # a success resets the count
    assert not b.record_failure(2.0) and not b.record_failure(2.5)
    assert b.record_failure(3.0)
    assert b.state(3.0) == OPEN and b.state(12.9) == OPEN
    assert b.state(13.0) == HALF_OPEN


def test_a_failed_trial_reopens_with_a_longer_cooldown_and_success_closes() -> None:
    b = Breaker(threshold=1, cooldown_s=10.0, max_cooldown_s=25.0)
    b.record_failure(0.0)
    assert b.record_failure(10.0)  # half-open trial failed
    assert b.state(29.0) == OPEN and b.state(30.0) == HALF_OPEN
    b.record_failure(30.0)
    assert b.cooldown_s == 25.0  # capped
    b.record_success(55.0)
    assert b.state(55.0) == CLOSED and b.cooldown_s == 10.0


def test_key_pool_parks_refused_keys_and_still_answers_when_all_are_parked() -> None:
    pool = KeyPool(["a", "b"])
    assert pool.pick(0.0) == "a"
    pool.penalise("a", 401, 0.0)
    assert pool.pick(1.0) == "b"
    pool.penalise("b", 429, 1.0, retry_after=5.0)
    assert pool.pick(2.0) == "b"  # every key parked: the one that frees first
    assert pool.pick(7.0) == "b"
    assert pool.pick(2.0, exclude=frozenset({"b"})) == "a"


async def test_breaker_opens_skips_the_provider_then_a_probe_closes_it(fakes: Any, gateway: Any) -> None:
    a, b = await fakes(), await fakes()
    a.fail_status = 500
    clock = FakeClock()
    g = await gateway([provider("provider-a", a, price=(0, 0)), provider("provider-b", b, price=(1, 1))],
                      settings=GatewayOptions(breaker_threshold=2, breaker_cooldown_s=30.0, clock=clock,
                                               probe_interval_s=3600))  # only request-triggered probes here
    for _ in range(2):
        raw = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG)
        assert raw.headers["x-shareai-route"] == "provider-b"
    assert g.sub.health.state("provider-a") == OPEN
    calls = a.calls
    raw = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG)
    assert raw.headers["x-shareai-attempts"] == "1" and a.calls == calls  # skipped, not tried
    assert g.sub.health.open_circuits() == 1
    # cooldown over while still down: the probe fails and the circuit re-opens
    clock.advance(31)
    await g.client.chat.completions.create(model=MODEL, messages=MSG)
    await eventually(lambda: a.probes == 1)
    await eventually(lambda: g.sub.health.state("provider-a") == OPEN)
    assert a.calls == calls  # probes cost no tokens: no generation request reached it
    # the provider recovers: after the (doubled) cooldown a probe closes the circuit
    a.fail_status = None
    clock.advance(61)
    await g.client.chat.completions.create(model=MODEL, messages=MSG)
    await eventually(lambda: g.sub.health.state("provider-a") == CLOSED)
    raw = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG)
    assert raw.headers["x-shareai-route"] == "provider-a"


async def test_an_open_node_gets_a_trial_request_after_cooldown(fakes: Any, gateway: Any) -> None:
    node, b = await fakes(), await fakes()
    node.fail_status = 503
    clock = FakeClock()
    directory = StaticDirectory([node_route("n1", node.base_url, price=(0, 0))])
    g = await gateway([provider("provider-b", b, price=(1, 1))], directory=directory,
                      settings=GatewayOptions(breaker_threshold=1, breaker_cooldown_s=5.0, clock=clock))
    await g.client.chat.completions.create(model=MODEL, messages=MSG)
    assert g.sub.health.state("node:n1") == OPEN
    node.fail_status = None
    await g.client.chat.completions.create(model=MODEL, messages=MSG)
    assert node.calls == 1  # still open: skipped
    clock.advance(6)  # heartbeats keep it in the directory, so it gets a real request, no probe
    raw = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG)
    assert raw.headers["x-shareai-route"] == "node:n1"
    assert g.sub.health.state("node:n1") == CLOSED and node.probes == 0


async def test_background_probes_close_a_circuit_without_traffic(fakes: Any, gateway: Any) -> None:
    a, b = await fakes(), await fakes()
    a.fail_status = 500
    clock = FakeClock()
    g = await gateway([provider("provider-a", a, price=(0, 0)), provider("provider-b", b, price=(1, 1))],
                      settings=GatewayOptions(breaker_threshold=1, breaker_cooldown_s=30.0, probe_interval_s=0.02,
                                               clock=clock))
    await g.client.chat.completions.create(model=MODEL, messages=MSG)
    assert g.sub.health.state("provider-a") == OPEN
    a.fail_status = None
    clock.advance(31)  # no request is sent from here on
    await eventually(lambda: g.sub.health.state("provider-a") == CLOSED)
    assert a.probes >= 1 and a.calls == 1
