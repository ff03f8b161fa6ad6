"""A client that goes away from a non-streaming request cancels the upstream call, gives the
reservation back and is recorded as 499 (the coordinator runs with handler cancellation)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from shareai.coordinator.gateway.token_bound import MESSAGE_OVERHEAD, REQUEST_OVERHEAD
from tests.coordinator.gateway.helpers import KEY, MODEL, eventually, provider
from tests.coordinator.gateway.test_governance_hooks import RecordingGovernor


async def _post_then_leave(url: str, path: str, body: dict[str, Any], inside: Any) -> None:
    """POST, wait until the upstream holds the request, then drop the connection."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s:
        task = asyncio.create_task(s.post(url + path, json=body, headers={"Authorization": f"Bearer {KEY}"}))
        await eventually(inside)
        task.cancel()  # closes the client's connection mid-request
        try:
            await task
        except asyncio.CancelledError:
            pass
        assert task.cancelled()


async def test_unary_client_disconnect_cancels_upstream_releases_and_records_499(fakes: Any, gateway: Any) -> None:
    up = await fakes(reply="never sent")
    up.hang = True  # holds the request until its client goes away
    gov = RecordingGovernor()
    # A generous per-attempt timeout: only the client's disconnect can end this request early.
    g = await gateway([provider("provider-a", up, timeout_s=60)], governor=gov)
    await _post_then_leave(g.url, "/v1/chat/completions",
                           {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},
                           lambda: up.calls == 1)
    await eventually(lambda: up.disconnects == 1)  # the upstream saw its connection closed
    await eventually(lambda: bool(g.records()))
    rec = g.records()[-1]
    assert (rec.status, rec.route, rec.attempts) == (499, "provider-a", 1)
    assert [kind for kind, _ in gov.log] == ["admit", "release"]  # never settled, never left reserved
    assert g.sub.health.inflight() == 0
    # The gateway stays healthy: the next request is served (breaker untouched by a client leaving).
    up.hang = False
    ok = await g.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert ok.choices[0].message.content == "never sent"


async def test_a_stream_left_mid_way_books_its_whole_reservation(fakes: Any, gateway: Any) -> None:
    """Leaving before the usage chunk must not dodge limits: the reservation is booked in full."""
    up = await fakes(reply=" ".join(["word"] * 200))
    up.chunk_delay = 0.02
    gov = RecordingGovernor()
    g = await gateway([provider("provider-a", up, price=(1.0, 1.0), timeout_s=60)], governor=gov)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50, "stream": True}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s:
        async with s.post(g.url + "/v1/chat/completions", json=body,
                          headers={"Authorization": f"Bearer {KEY}"}) as resp:
            assert resp.status == 200
            await resp.content.readany()
            resp.close()  # drop the connection mid-stream
    await eventually(lambda: up.cancelled == 1)
    await eventually(lambda: bool(g.records()))
    # The prompt's upper bound, as reserved at admission: overheads plus the bytes of "user" and "hi".
    prompt = REQUEST_OVERHEAD + MESSAGE_OVERHEAD + len("user") + len("hi")
    assert gov.log[1:] == [("settle", (prompt, 50, pytest.approx((prompt + 50) / 1e6)))]
    (rec,) = g.records()
    assert (rec.status, rec.prompt_tokens, rec.completion_tokens, rec.extra) == (499, prompt, 50, {"estimated": True})
