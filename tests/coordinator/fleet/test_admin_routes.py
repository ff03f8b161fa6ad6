"""The fleet's admin API: auth, validation, listings."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.coordinator.fleet.conftest import Harness, start_coordinator


async def test_admin_key_required(harness: Harness) -> None:
    for method, path in (("POST", "/admin/v1/tokens"), ("GET", "/admin/v1/nodes"), ("GET", "/admin/v1/tokens"),
                         ("POST", "/admin/v1/nodes/x/revoke")):
        status, body = await harness.admin(method, path, {"org": "a"}, key="sa-admin-wrong")
        assert status == 401, path
        assert body["error"]["type"] == "authentication_error"


async def test_token_validation(harness: Harness) -> None:
    for body, param in (({}, "org"), ({"org": "a", "ttl_s": -1}, "ttl_s"), ({"org": "a", "uses": 0}, "uses"),
                        ({"org": "a", "uses": 1.5}, "uses"), ({"org": "a", "ttl_s": "1h"}, "ttl_s")):
        status, resp = await harness.admin("POST", "/admin/v1/tokens", body)
        assert status == 400 and resp["error"]["param"] == param, body


async def test_nodes_list_and_show(harness: Harness) -> None:
    a = await harness.enroll(org="acme", name="alpha")
    await harness.register(a)
    await harness.beat(a, busy=1)
    b = await harness.enroll(org="beta", name="beta")
    status, body = await harness.admin("GET", "/admin/v1/nodes")
    assert status == 200
    by_id = {n["id"]: n for n in body["data"]}
    assert by_id[a.node_id]["status"] == "online" and by_id[b.node_id]["status"] == "offline"
    node = by_id[a.node_id]
    assert node["models"] == ["m1"] and node["load"]["m1"]["busy"] == 1
    assert node["gpus"][0]["name"] == "NVIDIA H100" and node["org"] == "acme"
    assert "secret" not in str(node).lower()
    status, body = await harness.admin("GET", "/admin/v1/nodes?org=beta")
    assert [n["id"] for n in body["data"]] == [b.node_id]
    status, body = await harness.admin("GET", "/admin/v1/nodes/node_missing")
    assert status == 404 and body["error"]["code"] == "node_not_found"
    status, body = await harness.admin("POST", "/admin/v1/nodes/node_missing/revoke")
    assert status == 404


async def test_without_governance_a_token_may_name_any_org(harness: Harness) -> None:
    status, body = await harness.admin("POST", "/admin/v1/tokens", {"org": "never-created"})
    assert status == 201 and body["org"] == "never-created"


async def test_with_governance_a_token_needs_an_existing_org(tmp_path: Path) -> None:
    coord = await start_coordinator(tmp_path / "coord", full=True)
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(coord, None, None, http)  # type: ignore[arg-type]  # admin API only
            status, body = await h.admin("POST", "/admin/v1/tokens", {"org": "acme"})
            assert status == 404 and body["error"]["code"] == "org_not_found"
            assert body["error"]["param"] == "org"
            assert "shareai-coordinator org create acme" in body["error"]["message"]
            status, body = await h.admin("POST", "/admin/v1/orgs", {"name": "acme"})
            assert status in (200, 201), body
            status, body = await h.admin("POST", "/admin/v1/tokens", {"org": "acme"})
            assert status == 201 and body["token"].startswith("enr_")
        assert [e.action for e in await coord.audit.list(action_prefix="token.")] == ["token.create"]
    finally:
        await coord.stop(grace_s=1.0)
