"""A real coordinator with two orgs, console users of each role, a node per org (real `NodeAgent`s on
the light backend, enrolled over gRPC) and a fake provider, and a signed-in browser-like client.

    async with ConsoleClient(world.coord.url) as c:
        await c.sign_in(ADMIN_A, PASSWORD)
        nodes = await c.get("nodes")            # JSON of /console/api/nodes
        await c.post("keys", {"name": "ci"})    # with the session's CSRF token
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shareai.agent.backends.fake import FakeBackend
from shareai.agent.control.enroll import enroll
from shareai.agent.control.node import NodeAgent
from shareai.agent.slots import ModelPool
from shareai.coordinator.compose import ComposedCoordinator, build_coordinator
from shareai.coordinator.config import ProviderConfig, ProviderModel
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.testing.fake_provider import FakeProvider
from tests.agent.control.conftest import Source, agent_config, until
from tests.coordinator.fleet.conftest import ADMIN_KEY, make_config

MODEL = "m1"
PASSWORD = "correct horse battery"
OWNER = "owner@example.test"
ADMIN_A = "ann@org-a.test"
MEMBER_A = "max@org-a.test"
ADMIN_B = "bob@org-b.test"
XSS_NAME = "<img src=x onerror=alert(1)>"


@dataclass
class World:
    coord: ComposedCoordinator
    provider: FakeProvider
    nodes: dict[str, str]  # org -> node id
    keys: dict[str, str]  # org -> key id (made with the admin API)


async def admin_call(url: str, method: str, path: str, body: dict[str, Any] | None = None,
                     expect: int | None = None) -> Any:
    async with aiohttp.ClientSession() as http, http.request(
            method, url + path, json=body, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as resp:
        out = await resp.json()
        if expect is None:
            assert resp.status < 300, out
        else:
            assert resp.status == expect, out
        return out


class ConsoleClient:
    """A browser stand-in: a cookie jar, the pages' CSRF token, the JSON calls."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.csrf = ""
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # cookies from 127.0.0.1

    async def __aenter__(self) -> ConsoleClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.close()

    async def page(self, path: str) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.http.get(self.url + path, allow_redirects=False) as resp:
            text = await resp.text()
            found = re.search(r'<meta name="csrf-token" content="([^"]*)">', text)
            if found:
                self.csrf = found.group(1)
            return resp.status, text, resp

    async def sign_in(self, email: str, password: str = PASSWORD, expect: int = 200) -> dict[str, Any]:
        await self.page("/console/signin")
        out = await self.call("POST", "signin", {"email": email, "password": password}, expect=expect)
        if expect == 200:
            await self.page("/console/")
        return out

    async def call(self, method: str, path: str, body: Any = None, *, expect: int = 200,
                   headers: dict[str, str] | None = None) -> Any:
        hdrs = {"x-csrf-token": self.csrf} if method != "GET" else {}
        hdrs.update(headers or {})
        async with self.http.request(method, f"{self.url}/console/api/{path}", json=body, headers=hdrs) as resp:
            out = await resp.json()
            assert resp.status == expect, (resp.status, out)
            return out

    async def get(self, path: str, expect: int = 200) -> Any:
        return await self.call("GET", path, expect=expect)

    async def post(self, path: str, body: Any = None, expect: int = 200) -> Any:
        return await self.call("POST", path, body, expect=expect)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with FakeProvider(model=MODEL, reply="from the provider") as provider:
        cfg = make_config(tmp_path / "coord")
        cfg.providers = [ProviderConfig(name="provider-a", base_url=provider.base_url, api_keys=["pk-test"],
                                        models=[ProviderModel(MODEL, MODEL, 1.0, 2.0)])]
        coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
        await coord.start()
        agents: list[NodeAgent] = []
        try:
            url = coord.url
            nodes, keys = {}, {}
            for org in ("org-a", "org-b"):
                await admin_call(url, "POST", "/admin/v1/orgs", {"name": org})
                keys[org] = (await admin_call(url, "POST", "/admin/v1/keys", {"org": org, "name": f"ci-{org}"}))["id"]
                token = (await admin_call(url, "POST", "/admin/v1/tokens", {"org": org}))["token"]
                name = XSS_NAME if org == "org-b" else f"rig-{org}"
                ident = await enroll(coord.grpc_target, token, data_dir=tmp_path / org, name=name,
                                     host=pb.HostInfo(hostname=org))
                agent = NodeAgent(agent_config(), ident, pools=[ModelPool(MODEL, [FakeBackend(reply=f"node {org}")])],
                                  host_info=pb.HostInfo(hostname=org), utilisation=Source(), sample_period_s=3600.0)
                await agent.start()
                agents.append(agent)
                nodes[org] = ident.node_id
            for email, role, org in ((OWNER, "owner", None), (ADMIN_A, "admin", "org-a"),
                                     (MEMBER_A, "member", "org-a"), (ADMIN_B, "admin", "org-b")):
                await admin_call(url, "POST", "/admin/v1/users",
                                 {"email": email, "password": PASSWORD, "role": role, "org": org})
            for org in ("org-a", "org-b"):
                await until(lambda o=org: coord.fleet.directory.routes_for(MODEL, o), what=f"{org}'s node")
            yield World(coord, provider, nodes, keys)
        finally:
            for agent in agents:
                await agent.stop()
            await coord.stop(grace_s=1.0)
