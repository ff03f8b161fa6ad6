"""Ordered route lists, the admin fault switch and the route listing the acceptance check relies on."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.coordinator.gateway.helpers import ADMIN_KEY, MODEL, StaticDirectory, node_route, provider

MSG = [{"role": "user", "content": "hello"}]


async def _ask(g: Any, **headers: str) -> Any:
    return await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG, extra_headers=headers)


async def _admin(g: Any, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        async with s.request(method, g.url + path, json=body,
                             headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as r:
            return r.status, await r.json()


async def test_route_list_pins_an_order_and_fails_over_along_it(fakes: Any, gateway: Any) -> None:
    a, b = await fakes(), await fakes()
    g = await gateway([provider("provider-a", a, price=(1, 1)), provider("provider-b", b, price=(0, 0))])
    raw = await _ask(g, **{"x-shareai-route": "provider-a,provider-b"})  # cheapest would pick b
    assert raw.headers["x-shareai-route"] == "provider-a" and a.calls == 1 and b.calls == 0
    a.fail_status = 500
    raw = await _ask(g, **{"x-shareai-route": "provider-a,provider-b"})
    assert raw.headers["x-shareai-route"] == "provider-b" and raw.headers["x-shareai-attempts"] == "2"


async def test_fault_switch_fails_calls_at_the_transport_and_failover_runs(fakes: Any, gateway: Any) -> None:
    a, b, node = await fakes(), await fakes(), await fakes()
    node.accept_keys = {"ns_secret"}
    directory = StaticDirectory([node_route("n1", node.base_url, price=(5.0, 5.0))])
    g = await gateway([provider("provider-a", a, price=(0.1, 0.1)), provider("provider-b", b, price=(0.2, 0.2))],
                      directory=directory)
    status, listed = await _admin(g, "GET", f"/admin/v1/routes?model={MODEL}")
    assert status == 200
    assert {r["route"]: r["kind"] for r in listed["data"]} == {
        "provider-a": "provider", "provider-b": "provider", "node:n1": "node"}

    status, _ = await _admin(g, "POST", "/admin/v1/faults", {"route": "provider-a", "enabled": True})
    assert status == 200
    served = []
    for _ in range(4):
        raw = await _ask(g)  # cheapest: provider-a first, but it is faulted
        served.append(raw.headers["x-shareai-route"])
    assert set(served) == {"provider-b"}
    assert a.calls == 0  # the fault is the gateway's: nothing reached provider A
    status, faults = await _admin(g, "GET", "/admin/v1/faults")
    assert faults["data"][0]["route"] == "provider-a" and faults["data"][0]["hits"] >= 1

    await _admin(g, "POST", "/admin/v1/faults", {"route": "provider-a", "enabled": False})
    raw = await _ask(g, **{"x-shareai-route": "provider-a"})
    assert raw.headers["x-shareai-route"] == "provider-a" and a.calls == 1
    actions = [e.action for e in await g.coord.audit.list(action_prefix="fault.")]
    assert actions == ["fault.enable", "fault.disable"]


async def test_admin_routes_need_the_admin_key_and_valid_input(fakes: Any, gateway: Any) -> None:
    a = await fakes()
    g = await gateway([provider("provider-a", a)])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        async with s.get(g.url + f"/admin/v1/routes?model={MODEL}") as r:
            assert r.status == 401
    status, body = await _admin(g, "POST", "/admin/v1/faults", {"route": "nobody"})
    assert status == 404 and body["error"]["param"] == "route"
    status, body = await _admin(g, "POST", "/admin/v1/faults", {"route": "provider-a", "enabled": "yes"})
    assert status == 400 and body["error"]["param"] == "enabled"
    status, body = await _admin(g, "GET", "/admin/v1/routes")
    assert status == 400 and body["error"]["param"] == "model"
