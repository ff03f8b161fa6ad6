"""A real coordinator on port 0 and real agents (fake backend) joining it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from shareai.agent.backends.fake import FakeBackend
from shareai.agent.config import AgentConfig, ModelSpec
from shareai.agent.control.availability import Utilisation
from shareai.agent.control.enroll import enroll
from shareai.agent.control.identity import NodeIdentity
from shareai.agent.control.node import NodeAgent
from shareai.agent.slots import ModelPool
from shareai.coordinator.app import Coordinator
from shareai.coordinator.fleet.service import FleetService
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from tests.coordinator.fleet.conftest import start_coordinator


class Source:
    """An injected utilisation source tests set by hand."""

    def __init__(self) -> None:
        self.util = Utilisation(cpu_pct=0.0, gpu_pct=0.0)

    def sample(self) -> Utilisation:
        return self.util


async def until(cond: Callable[[], Any], timeout_s: float = 20.0, what: str = "condition") -> float:
    """Poll `cond` until true; returns the seconds it took (fails the test after `timeout_s`).

    The deadline is generous on purpose (a loaded 2-core CI machine): it only bounds a hang. Tests
    that assert how soon something happens do so separately, with a bound that load cannot break.
    Returns in the same loop tick as the check that succeeded (nothing else runs in between)."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - t0


def fleet_of(coord: Coordinator) -> FleetService:
    service = coord.fleet.service
    assert service is not None
    return service


async def new_token(coord: Coordinator, org: str = "acme", uses: int = 1) -> str:
    info = await fleet_of(coord).tokens.create(org=org, ttl_s=600, uses=uses, actor="test", now=coord.clock())
    assert info.token is not None
    return info.token


def fake_pool(name: str = "m1", *, slots: int = 1, **backend: Any) -> ModelPool:
    return ModelPool(name, [FakeBackend(**backend) for _ in range(slots)], queue_limit=4)


def agent_config(**control: Any) -> AgentConfig:
    cfg = AgentConfig(models=[ModelSpec(path="", name="m1", backend="fake")], port=0)
    for key, value in control.items():
        setattr(cfg.control, key, value)
    cfg.control.validate()
    return cfg


def make_agent(ident: NodeIdentity, source: Source | None = None, pools: list[ModelPool] | None = None,
               **control: Any) -> NodeAgent:
    return NodeAgent(agent_config(**control), ident, pools=pools or [fake_pool()],
                     host_info=pb.HostInfo(hostname="test-host"), utilisation=source or Source(),
                     sample_period_s=3600.0)


@pytest.fixture
async def coord(tmp_path: Path) -> AsyncIterator[Coordinator]:
    c = await start_coordinator(tmp_path / "coord", interval_s=1.0, patience=3)
    try:
        yield c
    finally:
        await c.stop(grace_s=1.0)


@pytest.fixture
async def ident(coord: Coordinator, tmp_path: Path) -> NodeIdentity:
    return await enroll(coord.grpc_target, await new_token(coord), data_dir=tmp_path / "agent", name="rig",
                        host=pb.HostInfo(hostname="test-host"))
