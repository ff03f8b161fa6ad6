"""Failover rules: 500, 429, connection refused, hang, slow first byte; key rotation; 502/503/504."""

from __future__ import annotations

import socket
from typing import Any

import openai
import pytest

from shareai.coordinator.config import ProviderConfig, ProviderModel
from tests.coordinator.gateway.helpers import MODEL, provider

MSG = [{"role": "user", "content": "hello"}]


async def _ask(g: Any) -> Any:
    return await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_5xx_and_429_fail_over_to_the_next_target(fakes: Any, gateway: Any, status: int) -> None:
    a, b = await fakes(), await fakes(reply="from b")
    a.fail_status = status
    g = await gateway([provider("provider-a", a, price=(0, 0)), provider("provider-b", b, price=(1, 1))])
    raw = await _ask(g)
    assert raw.parse().choices[0].message.content == "from b"
    assert raw.headers["x-shareai-route"] == "provider-b"
    assert raw.headers["x-shareai-attempts"] == "2"
    assert (a.calls, b.calls) == (1, 1)
    assert g.records()[-1].attempts == 2
    assert g.sub.metrics.failovers.get(MODEL) == 1


async def test_connection_refused_fails_over(fakes: Any, gateway: Any) -> None:
    b = await fakes(reply="from b")
    dead = ProviderConfig(name="provider-a", base_url=f"http://127.0.0.1:{_closed_port()}/v1", api_keys=["k"],
                          models=[ProviderModel(name=MODEL, upstream=MODEL)])
    g = await gateway([dead, provider("provider-b", b, price=(1, 1))])
    raw = await _ask(g)
    assert raw.headers["x-shareai-route"] == "provider-b" and raw.headers["x-shareai-attempts"] == "2"


async def test_a_hanging_provider_times_out_and_fails_over(fakes: Any, gateway: Any) -> None:
    a, b = await fakes(), await fakes(reply="from b")
    a.hang = True
    g = await gateway([provider("provider-a", a, price=(0, 0), timeout_s=0.3), provider("provider-b", b, price=(1, 1))])
    raw = await _ask(g)
    assert raw.headers["x-shareai-route"] == "provider-b"
    assert g.sub.metrics.attempts.get("provider-a", "timeout") == 1


async def test_slow_first_byte_fails_over_for_streams_too(fakes: Any, gateway: Any) -> None:
    a, b = await fakes(), await fakes(reply="from b")
    a.first_byte_delay = 2.0
    g = await gateway([provider("provider-a", a, price=(0, 0), timeout_s=0.3), provider("provider-b", b, price=(1, 1))])
    raw = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG, stream=True)
    assert raw.headers["x-shareai-route"] == "provider-b"
    text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
    assert text == "from b"


async def test_client_errors_are_passed_through_without_failover(fakes: Any, gateway: Any) -> None:
    a, b = await fakes(), await fakes()
    a.fail_status = 400
    g = await gateway([provider("provider-a", a, price=(0, 0)), provider("provider-b", b, price=(1, 1))])
    with pytest.raises(openai.BadRequestError):
        await _ask(g)
    assert (a.calls, b.calls) == (1, 0)


async def test_key_rotation_on_401_and_429(fakes: Any, gateway: Any) -> None:
    a = await fakes()
    a.key_status = {"k1": 401, "k2": 429}
    g = await gateway([provider("provider-a", a, keys=["k1", "k2", "k3"])])
    raw = await _ask(g)
    assert raw.headers["x-shareai-route"] == "provider-a"
    assert raw.headers["x-shareai-attempts"] == "3"
    assert a.keys_seen == ["k1", "k2", "k3"]
    await _ask(g)  # the refused and throttled keys are parked: the good key is used first now
    assert a.keys_seen[-1] == "k3" and len(a.keys_seen) == 4


async def test_every_key_refused_moves_to_the_next_provider(fakes: Any, gateway: Any) -> None:
    a, b = await fakes(), await fakes(reply="from b")
    a.accept_keys = set()
    g = await gateway([provider("provider-a", a, keys=["k1", "k2"], price=(0, 0)),
                       provider("provider-b", b, price=(1, 1))])
    raw = await _ask(g)
    assert raw.headers["x-shareai-route"] == "provider-b" and raw.headers["x-shareai-attempts"] == "3"


async def test_all_failed_is_502_none_available_503_all_timed_out_504(fakes: Any, gateway: Any) -> None:
    a, b = await fakes(), await fakes()
    a.fail_status = b.fail_status = 500
    g = await gateway([provider("provider-a", a, timeout_s=0.3), provider("provider-b", b, timeout_s=0.3)])
    with pytest.raises(openai.APIStatusError) as failed:
        await _ask(g)
    assert failed.value.status_code == 502
    assert failed.value.response.headers["x-shareai-attempts"] == "2"
    assert failed.value.body["code"] == "upstream_failed"  # type: ignore[index]
    a.fail_status = b.fail_status = None
    a.hang = b.hang = True
    with pytest.raises(openai.APIStatusError) as timed_out:
        await _ask(g)
    assert timed_out.value.status_code == 504
    assert timed_out.value.body["type"] == "timeout"  # type: ignore[index]
    g2 = await gateway([], directory=None)
    with pytest.raises(openai.NotFoundError):  # nothing knows the model at all
        await _ask(g2)
    with pytest.raises(openai.APIStatusError) as none:  # known, but nothing can serve it now
        await g.client.chat.completions.create(model=MODEL, messages=MSG,
                                               extra_headers={"x-shareai-route": "node"})
    assert none.value.status_code == 503
    assert none.value.body["code"] == "no_target_available"  # type: ignore[index]
    assert [r.status for r in g.records()] == [502, 504, 503]
