"""Routing policies: order the targets of one request, best first. Pure functions, no I/O.

    cheapest      lowest estimated cost for this request (prompt + max_tokens at the route's prices)
    fastest       lowest EWMA time to first token (streams) or latency (non-streaming)
    least-loaded  lowest utilisation: a node's busy slots + queue from heartbeats + our in-flight,
                  over its slots; a provider's in-flight over a nominal capacity
    prefer-nodes  nodes with a free slot first, then providers (cheapest), saturated nodes last
    nodes-only    nodes only (private data never leaves the org's hardware), least-loaded first
    weighted      random order drawn by weight (providers' `weight`, nodes 1)

The forwarder walks the list in order, so the order *is* the failover sequence.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from shareai.coordinator.config import POLICIES
from shareai.coordinator.gateway.stats import StatsBook
from shareai.coordinator.gateway.targets import NODE, Target

__all__ = ["POLICIES", "RouteContext", "order", "utilisation"]


@dataclass(frozen=True, slots=True)
class RouteContext:
    stream: bool
    prompt_tokens: int
    max_tokens: int
    provider_capacity: int = 32  # concurrent requests we treat a provider as absorbing comfortably


def utilisation(target: Target, stats: StatsBook, ctx: RouteContext) -> float:
    own = stats.inflight(target.route)
    if target.node is not None:
        load = target.node.load
        return (load.slots_busy + load.queue_depth + own) / max(load.slots, 1)
    return own / max(ctx.provider_capacity * max(target.weight, 0.01), 1.0)


def saturated(target: Target, stats: StatsBook) -> bool:
    """A node with no free slot once our own in-flight requests are counted."""
    if target.node is None:
        return False
    load = target.node.load
    return load.slots_free - stats.inflight(target.route) <= 0 or load.queue_depth >= max(load.queue_limit, 1)


def _cost_key(ctx: RouteContext) -> Callable[[Target], tuple[float, str]]:
    def key(t: Target) -> tuple[float, str]:
        return (t.estimated_cost(ctx.prompt_tokens, ctx.max_tokens), t.route)
    return key


def _weighted(targets: list[Target], rng: random.Random) -> list[Target]:
    # Efraimidis-Spirakis: sort by u^(1/w), a weighted sample without replacement in one pass.
    def key(t: Target) -> float:
        w = t.weight if t.kind != NODE else 1.0
        return rng.random() ** (1.0 / w) if w > 0 else -1.0
    return sorted(targets, key=key, reverse=True)


def order(policy: str, targets: list[Target], *, stats: StatsBook, ctx: RouteContext,
          rng: random.Random) -> list[Target]:
    if policy == "cheapest":
        return sorted(targets, key=_cost_key(ctx))
    if policy == "fastest":
        return sorted(targets, key=lambda t: (stats.get(t.route).speed_score(ctx.stream), t.route))
    if policy == "least-loaded":
        return sorted(targets, key=lambda t: (utilisation(t, stats, ctx), t.route))
    if policy == "nodes-only":
        nodes = [t for t in targets if t.kind == NODE]
        return sorted(nodes, key=lambda t: (utilisation(t, stats, ctx), t.route))
    if policy == "prefer-nodes":
        nodes = [t for t in targets if t.kind == NODE]
        def by_load(t: Target) -> tuple[float, str]:
            return (utilisation(t, stats, ctx), t.route)
        free = sorted((t for t in nodes if not saturated(t, stats)), key=by_load)
        busy = sorted((t for t in nodes if saturated(t, stats)), key=by_load)
        providers = sorted((t for t in targets if t.kind != NODE), key=_cost_key(ctx))
        return free + providers + busy
    if policy == "weighted":
        return _weighted(targets, rng)
    raise ValueError(f"unknown policy {policy!r}")
