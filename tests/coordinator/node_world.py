"""A real coordinator (fleet, governance, gateway) with one org, its key, and one real agent enrolled
with the given model pools; optionally a fake provider serving the same model names. For tests of
what the gateway sends to nodes (tools, embeddings) through the `openai` SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import openai

from shareai.agent.control.enroll import enroll
from shareai.agent.control.node import NodeAgent
from shareai.agent.slots import ModelPool
from shareai.coordinator.app import Coordinator
from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import ProviderConfig
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from tests.agent.control.conftest import Source, agent_config, until
from tests.coordinator.fleet.conftest import ADMIN_KEY, make_config

ORG = "org-a"


@dataclass
class NodeWorld:
    coord: Coordinator
    key: str
    node_id: str

    def client(self, timeout: float = 120.0) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.coord.url + "/v1", api_key=self.key, max_retries=0, timeout=timeout)

    @property
    def node_route(self) -> str:
        return f"node:{self.node_id}"


async def _admin(coord: Coordinator, path: str, body: dict[str, Any]) -> Any:
    async with aiohttp.ClientSession() as http, http.post(
            coord.url + path, json=body, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as resp:
        out = await resp.json()
        assert resp.status < 300, out
        return out


@asynccontextmanager
async def node_world(tmp_path: Path, pools: Sequence[ModelPool],
                     providers: Sequence[ProviderConfig] = ()) -> AsyncIterator[NodeWorld]:
    """The world; the agent closes the pools' models when it stops."""
    cfg = make_config(tmp_path / "coord")
    cfg.providers = list(providers)
    coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
    await coord.start()
    agent: NodeAgent | None = None
    try:
        await _admin(coord, "/admin/v1/orgs", {"name": ORG})
        key = (await _admin(coord, "/admin/v1/keys", {"org": ORG}))["secret"]
        token = (await _admin(coord, "/admin/v1/tokens", {"org": ORG}))["token"]
        ident = await enroll(coord.grpc_target, token, data_dir=tmp_path / "node", name="rig",
                             host=pb.HostInfo(hostname="rig"))
        agent = NodeAgent(agent_config(price_input_per_mtok=9.0, price_output_per_mtok=9.0), ident, pools=list(pools),
                          host_info=pb.HostInfo(hostname="rig"), utilisation=Source(), sample_period_s=3600.0)
        await agent.start()
        directory = coord.fleet.directory
        for pool in pools:
            await until(lambda p=pool: directory.routes_for(p.name, ORG), what=f"{pool.name} on the node")
        yield NodeWorld(coord, key, ident.node_id)
    finally:
        if agent is not None:
            await agent.stop()
        await coord.stop(grace_s=1.0)
