"""In-test pieces for gateway tests: a node directory, a fake clock, config builders."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from shareai.coordinator.config import ProviderConfig, ProviderModel
from shareai.coordinator.interfaces import NodeModelLoad, NodeRoute
from shareai.testing.fake_provider import FakeProvider
from tests.clock import ManualClock

KEY = "sk-test-gateway-key"
ADMIN_KEY = "sa-admin-test-key"
MODEL = "gemma-3-270m"


FakeClock = ManualClock


@dataclass
class StaticDirectory:
    """A `NodeDirectory` whose routes the test sets directly (the fleet registry's role)."""

    routes: list[NodeRoute] = field(default_factory=list)
    offline: set[tuple[str, str]] = field(default_factory=set)  # (node id, org): registered, not routable

    def routes_for(self, model: str, org: str | None) -> list[NodeRoute]:
        return [r for r in self.routes if r.model == model and (org is None or r.org == org)]

    def model_names(self, org: str | None) -> set[str]:
        return {r.model for r in self.routes if org is None or r.org == org}

    def knows_node(self, node_id: str, org: str | None) -> bool:
        """Nodes the test listed, and those it declared known while out of `routes` (offline)."""
        known = [(r.node_id, r.org) for r in self.routes] + sorted(self.offline)
        return any(i == node_id and (org is None or o == org) for i, o in known)


def load(slots: int = 2, busy: int = 0, queue: int = 0, queue_limit: int = 8) -> NodeModelLoad:
    return NodeModelLoad(slots=slots, slots_busy=busy, slots_free=slots - busy, queue_depth=queue,
                         queue_limit=queue_limit, n_ctx=2048)


def node_route(node_id: str, endpoint_url: str, *, model: str = MODEL, secret: str = "ns_secret",
               org: str = "org-a", node_load: NodeModelLoad | None = None,
               price: tuple[float | None, float | None] = (None, None)) -> NodeRoute:
    return NodeRoute(node_id=node_id, name=f"rig-{node_id}", org=org, endpoint_url=endpoint_url,
                     data_plane_secret=secret, model=model, load=node_load or load(),
                     input_per_mtok=price[0], output_per_mtok=price[1])


def provider(name: str, fake: FakeProvider, *, model: str = MODEL, upstream: str | None = None,
             price: tuple[float, float] = (0.1, 0.4), keys: list[str] | None = None, timeout_s: float = 5.0,
             weight: float = 1.0, embeddings: bool = False) -> ProviderConfig:
    return ProviderConfig(
        name=name, base_url=fake.base_url, api_keys=keys if keys is not None else [f"key-{name}"],
        timeout_s=timeout_s, weight=weight,
        models=[ProviderModel(name=model, upstream=upstream or fake.model, input_per_mtok=price[0],
                              output_per_mtok=price[1], embeddings=embeddings)],
    )


async def eventually(cond: Callable[[], bool], timeout_s: float = 5.0, step_s: float = 0.01) -> None:
    """Poll `cond` until true (for state another task changes), failing after `timeout_s`."""
    for _ in range(int(timeout_s / step_s)):
        if cond():
            return
        await asyncio.sleep(step_s)
    raise AssertionError(f"condition not met within {timeout_s}s")
