"""`nodes drain`: a real coordinator tells a real agent (fake backend) to drain at its next beat."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import pytest

from shareai.agent.control.identity import NodeIdentity
from shareai.coordinator.app import Coordinator
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from tests.agent.control.conftest import fake_pool, fleet_of, make_agent, until
from tests.coordinator.fleet.conftest import ADMIN_KEY


async def _admin(coord: Coordinator, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(
            coord.url + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=aiohttp.ClientTimeout(total=10)) as resp:
        return resp.status, await resp.json()


async def test_drain_unroutes_at_once_and_the_agent_finishes_inflight_then_refuses(
        coord: Coordinator, ident: NodeIdentity) -> None:
    reply = " ".join(f"w{i}" for i in range(10))
    agent = make_agent(ident, pools=[fake_pool(slots=2, reply=reply, token_delay_s=0.03)])
    directory = coord.fleet.directory
    fleet = fleet_of(coord)
    await agent.start()
    try:
        await until(lambda: directory.routes_for("m1", None), timeout_s=20.0, what="registration")
        (route,) = directory.routes_for("m1", None)
        async with openai.AsyncOpenAI(base_url=route.endpoint_url, api_key=route.data_plane_secret,
                                      max_retries=0, timeout=20.0) as client:
            stream = await client.chat.completions.create(
                model="m1", messages=[{"role": "user", "content": "hi"}], stream=True)
            await anext(aiter(stream))
            status, body = await _admin(coord, f"/admin/v1/nodes/{ident.node_id}/drain")
            assert status == 200 and body["status"] == "away" and body["availability"] == "draining"
            assert directory.routes_for("m1", None) == []  # at once, before the node hears of it
            await until(lambda: agent.state == pb.AVAILABILITY_STATE_DRAINING, timeout_s=20.0,
                        what="the DRAIN command at the next heartbeat")
            with pytest.raises(openai.APIStatusError) as err:
                await client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "x"}])
            assert err.value.status_code == 503 and err.value.code == "node_unavailable"
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            assert text.split()[-1] == "w9"  # the in-flight stream finished in full
        node = fleet.registry.get(ident.node_id)
        assert node is not None
        await until(lambda: node.last_hb is not None and node.last_hb.state == pb.AVAILABILITY_STATE_DRAINING,
                    timeout_s=20.0, what="the node to report DRAINING")
        assert directory.routes_for("m1", None) == []
        # Reported: the answers stop carrying DRAIN; asking again is harmless and not re-audited.
        assert node.last_hb is not None and not fleet.registry.needs_drain(ident.node_id, node.last_hb)
        status, _ = await _admin(coord, f"/admin/v1/nodes/{ident.node_id}/drain")
        assert status == 200
    finally:
        await agent.stop()
    events = await coord.audit.list(action_prefix="node.")
    assert [e.action for e in events] == ["node.enrolled", "node.registered", "node.drain", "node.away",
                                          "node.deregistered"]
    assert events[2].actor == events[3].actor == "admin"


async def test_drain_refuses_unknown_unregistered_and_revoked_nodes(coord: Coordinator,
                                                                    ident: NodeIdentity) -> None:
    status, body = await _admin(coord, "/admin/v1/nodes/node_nope/drain")
    assert status == 404 and body["error"]["code"] == "node_not_found"
    status, body = await _admin(coord, f"/admin/v1/nodes/{ident.node_id}/drain")  # enrolled, never registered
    assert status == 400 and body["error"]["code"] == "node_not_registered"
    await fleet_of(coord).revoke(ident.node_id, actor="admin")
    status, body = await _admin(coord, f"/admin/v1/nodes/{ident.node_id}/drain")
    assert status == 400 and body["error"]["code"] == "node_revoked"
