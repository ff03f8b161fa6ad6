"""Under TLS the console's cookies carry `Secure` (and still `HttpOnly`, `SameSite=Lax`)."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import aiohttp

from shareai.coordinator.compose import build_coordinator
from tests.coordinator.console.conftest import ADMIN_A, PASSWORD
from tests.coordinator.fleet.conftest import ADMIN_KEY, make_config, self_signed_cert


async def test_cookies_are_secure_under_tls(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path / "tls")
    coord = build_coordinator(make_config(tmp_path / "coord", tls=(cert, key)), admin_key=ADMIN_KEY)
    await coord.start()
    ctx = ssl.create_default_context(cafile=str(cert))
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx),
                                         cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
            for path, body in (("/admin/v1/orgs", {"name": "org-a"}),
                               ("/admin/v1/users", {"email": ADMIN_A, "password": PASSWORD, "role": "admin",
                                                    "org": "org-a"})):
                async with http.post(coord.url + path, json=body, headers=admin) as resp:
                    assert resp.status == 201, await resp.text()
            async with http.get(coord.url + "/console/signin") as resp:
                found = re.search(r'name="csrf-token" content="([^"]+)"', await resp.text())
                signin_cookie = next(v for v in resp.headers.getall("Set-Cookie") if "signin" in v)
            assert found is not None and "Secure" in signin_cookie and "HttpOnly" in signin_cookie
            async with http.post(coord.url + "/console/api/signin", json={"email": ADMIN_A, "password": PASSWORD},
                                 headers={"x-csrf-token": found.group(1)}) as resp:
                assert resp.status == 200
                cookie = next(v for v in resp.headers.getall("Set-Cookie") if v.startswith("shareai_console="))
            attrs = [a.strip().lower() for a in cookie.split(";")]
            assert {"secure", "httponly", "samesite=lax", "path=/console"} <= set(attrs)
            async with http.get(coord.url + "/console/api/me") as resp:
                assert resp.status == 200 and (await resp.json())["email"] == ADMIN_A
    finally:
        await coord.stop(grace_s=0.5)
