"""The admin API on a real coordinator (tmp data dir, port 0): shapes, validation, auth, audit."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from shareai.coordinator.app import Coordinator
from shareai.coordinator.governance import GovernanceSubsystem
from tests.coordinator.governance.conftest import ADMIN_KEY, NOON, usage

TIMEOUT = aiohttp.ClientTimeout(total=10)


async def call(coord: Coordinator, method: str, path: str, body: dict[str, Any] | None = None,
               key: str | None = ADMIN_KEY, **params: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s, \
            s.request(method, coord.url + path, json=body, headers=headers, params=params) as r:
        return r.status, await r.json()


async def test_admin_routes_require_the_admin_key(coord: Coordinator) -> None:
    for key in (None, "sk-wrong"):
        status, body = await call(coord, "GET", "/admin/v1/orgs", key=key)
        assert status == 401 and body["error"]["type"] == "authentication_error"
    status, _ = await call(coord, "POST", "/admin/v1/orgs", {"name": "acme"}, key="sk-wrong")
    assert status == 401
    assert await call(coord, "GET", "/admin/v1/orgs") == (200, {"data": []})


async def test_org_key_limits_lifecycle_and_errors(coord: Coordinator) -> None:
    status, org = await call(coord, "POST", "/admin/v1/orgs", {"name": "acme", "policy": "cheapest",
                                                                "cache": "deterministic", "cache_ttl_s": 60})
    assert status == 201 and org["cache_mode"] == "deterministic" and org["limits"] is None
    status, body = await call(coord, "POST", "/admin/v1/orgs", {"name": "acme"})
    assert status == 400 and body["error"]["code"] == "org_exists"
    for bad, param in (({"name": "a b"}, "name"), ({"name": "x", "policy": "random"}, "policy"),
                       ({"name": "x", "cache": "some"}, "cache"), ({"name": "x", "private": "yes"}, "private")):
        status, body = await call(coord, "POST", "/admin/v1/orgs", bad)
        assert status == 400 and body["error"]["param"] == param, bad
    status, org = await call(coord, "POST", "/admin/v1/orgs/acme", {"private": True})
    assert status == 200 and org["private"] and org["policy"] == "cheapest"
    status, body = await call(coord, "POST", "/admin/v1/orgs/nope", {"private": True})
    assert status == 404 and body["error"]["code"] == "org_not_found"

    status, key = await call(coord, "POST", "/admin/v1/keys", {"org": "acme", "name": "ci", "models": ["gemma"],
                                                                "expires": "30d"})
    assert status == 201 and key["secret"].startswith("sk-") and key["models"] == ["gemma"]
    assert key["expires_at"] == pytest.approx(key["created_at"] + 30 * 86400)
    status, body = await call(coord, "POST", "/admin/v1/keys", {"org": "acme", "expires": "soon"})
    assert status == 400 and body["error"]["param"] == "expires"
    status, body = await call(coord, "POST", "/admin/v1/keys", {"org": "ghost"})
    assert status == 404
    status, listing = await call(coord, "GET", "/admin/v1/keys", org="acme")
    assert [k["id"] for k in listing["data"]] == [key["id"]]
    assert key["secret"] not in str(listing) and "secret_hash" not in str(listing)

    gov: GovernanceSubsystem = coord.governance
    principal = await gov.authenticate(key["secret"])
    assert principal.org == "acme" and principal.private and principal.allowed_models == frozenset({"gemma"})

    status, rotated = await call(coord, "POST", f"/admin/v1/keys/{key['id']}/rotate", {"grace": "1h"})
    assert status == 200 and rotated["secret"] != key["secret"]
    assert (await gov.authenticate(key["secret"])).key_id == key["id"]  # grace period
    status, _ = await call(coord, "POST", f"/admin/v1/keys/{key['id']}/revoke")
    assert status == 200
    status, body = await call(coord, "POST", "/admin/v1/keys/key_nope/revoke")
    assert status == 404 and body["error"]["code"] == "key_not_found"

    status, limits = await call(coord, "POST", "/admin/v1/limits", {"org": "acme", "rpm": 60, "daily_cost": 2.5,
                                                                     "policy": "fastest"})
    assert status == 200 and limits["rpm"] == 60 and limits["daily_cost"] == 2.5 and limits["policy"] == "fastest"
    status, limits = await call(coord, "POST", "/admin/v1/limits", {"org": "acme", "rpm": 0, "tpm": 1000})
    assert limits["rpm"] is None and limits["tpm"] == 1000 and limits["daily_cost"] == 2.5
    status, body = await call(coord, "POST", "/admin/v1/limits", {"org": "acme", "rpm": -1})
    assert status == 400 and body["error"]["param"] == "rpm"
    status, body = await call(coord, "POST", "/admin/v1/limits", {"org": "acme", "key": "key_other", "rpm": 1})
    assert status == 404
    status, listing = await call(coord, "GET", "/admin/v1/limits", org="acme")
    assert [d["scope"] for d in listing["data"]] == ["org:acme"]
    status, orgs = await call(coord, "GET", "/admin/v1/orgs")
    assert orgs["data"][0]["policy"] == "fastest" and orgs["data"][0]["limits"]["tpm"] == 1000

    status, audit = await call(coord, "GET", "/admin/v1/audit")
    actions = [(e["actor"], e["action"], e["target"]) for e in audit["data"]]
    assert actions == [
        ("admin", "org.create", "org:acme"), ("admin", "org.update", "org:acme"),
        ("admin", "key.create", f"key:{key['id']}"), ("admin", "key.rotate", f"key:{key['id']}"),
        ("admin", "key.revoke", f"key:{key['id']}"), ("admin", "org.update", "org:acme"),
        ("admin", "limits.set", "org:acme"), ("admin", "limits.set", "org:acme"),
    ]
    assert all(e["ts"] > NOON - 10**9 for e in audit["data"])
    assert key["secret"] not in str(audit) and rotated["secret"] not in str(audit)


async def test_usage_report_sums_what_was_recorded(coord: Coordinator) -> None:
    gov: GovernanceSubsystem = coord.governance
    now = coord.clock()
    for i in range(10):
        gov.record(usage(now - 1, route="provider-a" if i % 2 else "node:n1", cost=0.001 * (i % 2),
                         latency_ms=10.0 * (i + 1)))
    gov.record(usage(now - 1, org="beta", key_id="k9"))
    gov.record(usage(now - 7200, org="acme"))  # outside --since 1h
    status, report = await call(coord, "GET", "/admin/v1/usage", by="route", org="acme", since="1h")
    assert status == 200
    groups = {g["group"]: g for g in report["data"]}
    assert groups["provider-a"]["requests"] == 5 and groups["node:n1"]["requests"] == 5
    assert groups["provider-a"]["cost_usd"] == pytest.approx(0.005) and groups["node:n1"]["cost_usd"] == 0
    assert groups["provider-a"]["latency_p50_ms"] == 60.0 and groups["provider-a"]["latency_p95_ms"] == 100.0
    assert report["total"] == {"requests": 10, "total_tokens": 150, "cost_usd": pytest.approx(0.005)}
    status, report = await call(coord, "GET", "/admin/v1/usage", by="org")
    assert {g["group"]: g["requests"] for g in report["data"]} == {"acme": 11, "beta": 1}
    status, report = await call(coord, "GET", "/admin/v1/usage?by=route&key=k9")
    assert status == 200 and [(g["group"], g["requests"]) for g in report["data"]] == [("provider-a", 1)]
    status, body = await call(coord, "GET", "/admin/v1/usage", by="colour")
    assert status == 400 and body["error"]["param"] == "by"
