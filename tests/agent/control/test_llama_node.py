"""End to end on the real runtime: a llama.cpp node on the bundled model enrolls, registers with its
real slots and context size, and answers a chat completion presented with the data-plane secret."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from shareai.agent.config import AgentConfig, ModelSpec
from shareai.agent.control.enroll import enroll
from shareai.agent.control.node import NodeAgent
from shareai.coordinator.app import Coordinator
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from tests.agent.control.conftest import Source, fleet_of, new_token, until

pytestmark = pytest.mark.llama


async def test_llama_node_enrolls_registers_and_serves(coord: Coordinator, tmp_path: Path, model_path: Path) -> None:
    ident = await enroll(coord.grpc_target, await new_token(coord), data_dir=tmp_path / "agent", name="gemma-box",
                         host=pb.HostInfo(hostname="gemma-box"))
    cfg = AgentConfig(models=[ModelSpec(path=str(model_path), name="gemma-3-270m", chat_format="gemma", n_ctx=512,
                                        n_gpu_layers=0)], port=0).validate()
    agent = NodeAgent(cfg, ident, host_info=pb.HostInfo(hostname="gemma-box"), utilisation=Source())
    await agent.start()
    try:
        directory = coord.fleet.directory
        await until(lambda: directory.routes_for("gemma-3-270m", "acme"), timeout_s=60.0, what="registration")
        (route,) = directory.routes_for("gemma-3-270m", "acme")
        assert (route.load.slots, route.load.n_ctx) == (1, 512)
        view = fleet_of(coord).describe(fleet_of(coord).store.require(ident.node_id))
        assert view["status"] == "online" and view["models"] == ["gemma-3-270m"] and view["name"] == "gemma-box"
        async with openai.AsyncOpenAI(base_url=route.endpoint_url, api_key=route.data_plane_secret, max_retries=0,
                                      timeout=60.0) as client:
            resp = await client.chat.completions.create(
                model="gemma-3-270m", messages=[{"role": "user", "content": "Say hi."}], max_tokens=4)
        assert resp.usage is not None and 0 < resp.usage.completion_tokens <= 4
    finally:
        await agent.stop()
