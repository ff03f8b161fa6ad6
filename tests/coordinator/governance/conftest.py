"""Fixtures for governance tests: a settable clock, stores, and a real coordinator on port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shareai.coordinator.app import Coordinator
from shareai.coordinator.config import CoordinatorConfig, ProviderConfig, ProviderModel
from shareai.coordinator.governance.cache import ResponseCache
from shareai.coordinator.governance.directory import OrgDirectory
from shareai.coordinator.governance.governor import OrgGovernor
from shareai.coordinator.governance.pricing import PriceBook
from shareai.coordinator.governance.store import MemoryGovernanceStore
from shareai.coordinator.interfaces import UsageRecord
from tests.clock import ManualClock
from tests.coordinator.parts import governance_coordinator

ADMIN_KEY = "sa-admin-test-key-0123456789"
# 2026-11-25 12:00:00 UTC: mid-day, mid-month, so day and month arithmetic is unambiguous.
NOON = 1_795_608_000.0


class Clock(ManualClock):
    """Starts at NOON unless told otherwise."""

    def __init__(self, now: float = NOON) -> None:
        super().__init__(now)


class ListAudit:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def record(self, *, actor: str, action: str, target: str, **details: Any) -> None:
        self.events.append({"actor": actor, "action": action, "target": target, **details})


class ListSink:
    backlogged = False  # unbounded

    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    def put(self, record: UsageRecord) -> None:
        self.records.append(record)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def directory(clock: Clock) -> OrgDirectory:
    return await OrgDirectory.load(MemoryGovernanceStore(), ListAudit(), clock)


@pytest.fixture
def governance(directory: OrgDirectory, clock: Clock) -> OrgGovernor:
    prices = PriceBook(by_model={"gemma": (1.0, 2.0)})  # USD per 1M tokens
    return OrgGovernor(directory, prices=prices, cache=ResponseCache(1 << 20, clock=clock), sink=ListSink(),
                      clock=clock)


def coordinator_config(data_dir: Path) -> CoordinatorConfig:
    return CoordinatorConfig(
        http_host="127.0.0.1", http_port=0, grpc_host="127.0.0.1", grpc_port=0, data_dir=data_dir,
        api_keys=["bootstrap-key-for-tests"],
        providers=[ProviderConfig(name="provider-a", base_url="http://127.0.0.1:9/v1",
                                  models=[ProviderModel("gemma", "gemma", 1.0, 2.0)])],
    )


async def start_coordinator(data_dir: Path, clock: Clock | None = None) -> Coordinator:
    coord = governance_coordinator(coordinator_config(data_dir), admin_key=ADMIN_KEY,
                                   **({"clock": clock} if clock is not None else {}))
    await coord.start()
    return coord


@pytest.fixture
async def coord(tmp_path: Path) -> AsyncIterator[Coordinator]:
    c = await start_coordinator(tmp_path / "data")
    try:
        yield c
    finally:
        await c.stop()


def usage(ts: float, *, org: str | None = "acme", key_id: str = "key_1", model: str = "gemma",
          route: str = "provider-a", prompt: int = 10, completion: int = 5, cost: float = 0.001,
          latency_ms: float = 100.0, status: int = 200, cache_hit: bool = False) -> UsageRecord:
    return UsageRecord(ts=ts, org=org, key_id=key_id, model=model, route=route, prompt_tokens=prompt,
                       completion_tokens=completion, cost_usd=cost, latency_ms=latency_ms, ttft_ms=latency_ms / 2,
                       status=status, attempts=1, cache_hit=cache_hit, stream=False)
