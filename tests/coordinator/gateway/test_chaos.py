"""Chaos: a provider killed while 200 non-streaming requests are in flight loses none of them."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.coordinator.gateway.helpers import MODEL, eventually, provider


async def test_killing_a_provider_mid_flight_loses_no_request(fakes: Any, gateway: Any) -> None:
    a, b = await fakes(reply="from a"), await fakes(reply="from b")
    a.hang = True  # A holds every request until it is killed (or its timeout ends the attempt): never answers
    g = await gateway([provider("provider-a", a, price=(0, 0)), provider("provider-b", b, price=(1, 1))])

    async def one(i: int) -> tuple[str, str]:
        raw = await g.client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": f"request {i}"}])
        return raw.headers["x-shareai-route"], raw.parse().choices[0].message.content or ""

    tasks = [asyncio.create_task(one(i)) for i in range(200)]
    await eventually(lambda: a.calls >= 100, timeout_s=10, step_s=0.005)  # half of them are inside A now
    await a.kill()
    results = await asyncio.gather(*tasks)
    assert len(results) == 200  # gather raises on any failed request
    assert all(text == f"from {route[-1]}" for route, text in results)
    assert all(route == "provider-b" for route, _ in results)  # A never answered; B answered all 200
    assert g.sub.metrics.failovers.get(MODEL) >= 100
    assert all(r.status == 200 for r in g.records()) and len(g.records()) == 200
