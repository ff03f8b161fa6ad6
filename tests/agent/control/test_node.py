"""Real agents (fake backend) against a real coordinator: enroll, register, heartbeat, availability,
re-registration after a coordinator restart, revocation, graceful stop."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import openai
import pytest

from shareai.agent.control.availability import Utilisation
from shareai.agent.control.enroll import EnrollmentFailed, enroll
from shareai.agent.control.identity import IDENTITY_FILE, NodeIdentity, load_identity
from shareai.agent.control.session import NodeRefused
from shareai.coordinator.app import Coordinator
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from tests.agent.control.conftest import Source, fake_pool, fleet_of, make_agent, new_token, until
from tests.coordinator.fleet.conftest import start_coordinator


def _client(url: str, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url, api_key=key, max_retries=0, timeout=10.0)


async def test_enroll_stores_identity_and_refuses_bad_tokens(coord: Coordinator, ident: NodeIdentity,
                                                             tmp_path: Path) -> None:
    data = tmp_path / "agent"
    assert stat.S_IMODE((data / IDENTITY_FILE).stat().st_mode) == 0o600
    assert load_identity(data) == ident and ident.org == "acme" and ident.coordinator == coord.grpc_target
    again = await enroll(coord.grpc_target, await new_token(coord), data_dir=data)
    assert again.node_id == ident.node_id and again.node_secret != ident.node_secret and again.name == "rig"
    token = await new_token(coord)
    await enroll(coord.grpc_target, token, data_dir=tmp_path / "other")
    for bad, reason in ((token, "already been used"), ("enr_unknown", "unknown")):
        with pytest.raises(EnrollmentFailed) as err:
            await enroll(coord.grpc_target, bad, data_dir=tmp_path / "third")
        assert err.value.exit_code == 2 and reason in str(err.value) and "\n" not in str(err.value)


async def test_agent_registers_and_serves_only_the_data_plane_secret(coord: Coordinator, ident: NodeIdentity) -> None:
    agent = make_agent(ident, price_input_per_mtok=0.1, price_output_per_mtok=0.3)
    directory = coord.fleet.directory
    await agent.start()
    try:
        await until(lambda: directory.routes_for("m1", "acme"), what="the node to be routable")
        (route,) = directory.routes_for("m1", "acme")
        assert route.node_id == ident.node_id and route.endpoint_url == f"http://127.0.0.1:{agent.port}/v1"
        assert (route.input_per_mtok, route.output_per_mtok, route.load.slots, route.load.n_ctx) == (0.1, 0.3, 1, 2048)
        async with _client(route.endpoint_url, route.data_plane_secret) as client:
            resp = await client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "hi"}],
                                                        max_tokens=3)
            assert resp.choices[0].message.content
        async with _client(route.endpoint_url, "sk-not-the-secret") as client:
            with pytest.raises(openai.AuthenticationError):
                await client.models.list()
        # Heartbeats carry live load.
        await until(lambda: fleet_of(coord).registry.get(ident.node_id).last_hb is not None, what="a heartbeat")
        assert agent.session is not None and agent.session.interval_s == 1.0
    finally:
        await agent.stop()
    view = fleet_of(coord).describe(fleet_of(coord).store.require(ident.node_id))
    assert view["status"] == "offline"  # deregistered on stop, not after patience
    actions = [e.action for e in await coord.audit.list(action_prefix="node.")]
    assert actions == ["node.enrolled", "node.registered", "node.deregistered"]


async def test_turning_away_is_reported_at_once_and_inflight_finishes(tmp_path: Path) -> None:
    # A 30 s heartbeat interval (next regular beat >= 24 s after the last one, jitter 0.8-1): only the
    # immediate beat can report the flip within the generous 10 s polls below.
    coord = await start_coordinator(tmp_path / "slow-beat", interval_s=30.0, patience=3)
    try:
        ident = await enroll(coord.grpc_target, await new_token(coord), data_dir=tmp_path / "agent-slow")
        source = Source()
        reply = " ".join(f"w{i}" for i in range(15))
        agent = make_agent(ident, source, pools=[fake_pool(slots=2, reply=reply, token_delay_s=0.04)],
                           availability="idle", idle_hold_s=0.0, grace_s=10.0)
        directory = coord.fleet.directory
        await agent.start()
        try:
            await until(lambda: directory.routes_for("m1", None), what="registration")
            assert agent.session is not None
            await until(lambda: agent.session.heartbeats >= 1, what="the first beat")  # type: ignore[union-attr]
            (route,) = directory.routes_for("m1", None)
            async with _client(route.endpoint_url, route.data_plane_secret) as client:
                stream = await client.chat.completions.create(
                    model="m1", messages=[{"role": "user", "content": "hi"}], stream=True)
                first = await anext(aiter(stream))
                assert first.choices[0].delta.role == "assistant"
                source.util = Utilisation(cpu_pct=90.0, gpu_pct=0.0)  # the owner is back
                assert agent.monitor is not None
                agent.monitor.check()
                took = await until(lambda: not directory.routes_for("m1", None), timeout_s=10.0,
                                   what="away at the coordinator")
                assert took < 0.8 * 30.0  # reported by an immediate heartbeat, not at the next tick
                with pytest.raises(openai.APIStatusError) as err:
                    await client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "x"}])
                assert err.value.status_code == 503
                text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
                assert text.split()[-1] == "w14"  # the in-flight stream finished in full
                source.util = Utilisation(cpu_pct=1.0, gpu_pct=0.0)
                agent.monitor.check()
                took = await until(lambda: directory.routes_for("m1", None), timeout_s=10.0,
                                   what="back at the coordinator")
                assert took < 0.8 * 30.0
                resp = await client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "x"}],
                                                            max_tokens=2)
                assert resp.choices[0].finish_reason == "length"
        finally:
            await agent.stop()
        actions = [e.action for e in await coord.audit.list(action_prefix="node.")]
        assert actions[-3:] == ["node.away", "node.back", "node.deregistered"]
    finally:
        await coord.stop(grace_s=1.0)


async def test_grace_period_cuts_endless_work_short(coord: Coordinator, ident: NodeIdentity) -> None:
    source = Source()
    agent = make_agent(ident, source, pools=[fake_pool(repeat=True, token_delay_s=0.01)], availability="idle",
                       idle_hold_s=0.0, grace_s=0.3)
    directory = coord.fleet.directory
    await agent.start()
    try:
        await until(lambda: directory.routes_for("m1", None), what="registration")
        (route,) = directory.routes_for("m1", None)
        async with _client(route.endpoint_url, route.data_plane_secret) as client:
            stream = await client.chat.completions.create(
                model="m1", messages=[{"role": "user", "content": "hi"}], stream=True)
            await anext(aiter(stream))
            source.util = Utilisation(cpu_pct=90.0)
            assert agent.monitor is not None
            agent.monitor.check()
            assert await agent.server.wait_idle(5.0)
            with pytest.raises(openai.APIError, match="stopped serving"):  # an SSE error event, then close
                _ = [c async for c in stream]
    finally:
        await agent.stop()


async def test_restarted_coordinator_sees_the_agent_within_two_intervals(tmp_path: Path) -> None:
    data = tmp_path / "coord"
    interval = 2.0  # the bound is two intervals: wide enough in absolute terms for a loaded CI machine
    coord = await start_coordinator(data, interval_s=interval, patience=3)
    port = coord.grpc_port
    ident = await enroll(coord.grpc_target, await new_token(coord), data_dir=tmp_path / "agent")
    agent = make_agent(ident)
    await agent.start()
    try:
        await until(lambda: coord.fleet.directory.routes_for("m1", None), what="registration")
        await coord.stop(grace_s=0.5)
        assert agent.session is not None
        failed = agent.session.failures
        # The agent's calls fail meanwhile and back off (several retries: the backoff has grown).
        await until(lambda: agent.session.failures >= failed + 3, what="failed heartbeats")  # type: ignore[union-attr]
        coord = await start_coordinator(data, interval_s=interval, patience=3, grpc_port=port)
        took = await until(lambda: coord.fleet.directory.routes_for("m1", None), timeout_s=20.0,
                           what="re-registration")
        assert took <= 2 * interval, f"re-registered after {took:.2f}s"
        (route,) = coord.fleet.directory.routes_for("m1", None)
        assert route.node_id == ident.node_id
        # The new registration handed over a new data-plane secret, and the node took it.
        async with _client(route.endpoint_url, route.data_plane_secret) as client:
            assert [m.id async for m in client.models.list()] == ["m1"]
    finally:
        await agent.stop()
        await coord.stop(grace_s=0.5)


async def test_revoked_agent_stops_with_node_refused(coord: Coordinator, ident: NodeIdentity) -> None:
    agent = make_agent(ident)
    await agent.start()
    try:
        await until(lambda: coord.fleet.directory.routes_for("m1", None), what="registration")
        await fleet_of(coord).revoke(ident.node_id, actor="admin")
        with pytest.raises(NodeRefused, match="revoked"):
            await asyncio.wait_for(agent.wait(), 5.0)
    finally:
        await agent.stop()


async def test_unreachable_coordinator_is_retried_until_it_appears(tmp_path: Path) -> None:
    data = tmp_path / "coord"
    coord = await start_coordinator(data, interval_s=1.0, patience=3)
    ident = await enroll(coord.grpc_target, await new_token(coord), data_dir=tmp_path / "agent")
    port = coord.grpc_port
    await coord.stop(grace_s=0.5)
    agent = make_agent(ident)
    await agent.start()  # nothing listens: registration retries with backoff
    try:
        assert agent.session is not None
        await until(lambda: agent.session.failures >= 2, what="failed registrations")  # type: ignore[union-attr]
        coord = await start_coordinator(data, interval_s=1.0, patience=3, grpc_port=port)
        await until(lambda: coord.fleet.directory.routes_for("m1", None), timeout_s=5.0,
                    what="registration")
        assert pb.AVAILABILITY_STATE_AVAILABLE == agent.state
    finally:
        await agent.stop()
        await coord.stop(grace_s=0.5)
