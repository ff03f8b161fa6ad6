"""Prices the governance needs: the worst-case price of a model (quota reservations) and the
energy price of an own node (a pure function the gateway calls when it settles a node request).

    book = PriceBook.from_config(coord.config)
    book.estimate("gemma-3-270m", prompt_tokens=120, max_tokens=256)     # USD upper bound
    energy_cost_usd(power_w=250, duration_s=2.0, energy_per_kwh=0.30)    # 4.2e-05 USD
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.interfaces import NodeRoute


def energy_cost_usd(power_w: float | None, duration_s: float, energy_per_kwh: float) -> float:
    """What a request cost an own node in electricity: watts x seconds -> kWh x price.
    Unknown power draw or no price configured: 0 (the caller falls back to per-token prices)."""
    if power_w is None or power_w <= 0 or duration_s <= 0 or energy_per_kwh <= 0:
        return 0.0
    kwh = power_w * duration_s / 3_600_000.0
    return kwh * energy_per_kwh


def token_cost_usd(prompt_tokens: int, completion_tokens: int, input_per_mtok: float, output_per_mtok: float) -> float:
    return (prompt_tokens * input_per_mtok + completion_tokens * output_per_mtok) / 1_000_000.0


@dataclass(slots=True)
class PriceBook:
    """Per model, the highest input and output price over every route that may serve it, so a
    cost reservation is an upper bound whichever route the gateway picks: providers from config,
    the `[nodes]` default, and (at admission) what the org's live nodes advertise. Energy-priced
    nodes are not bounded by tokens; their cost counts once settled."""

    by_model: dict[str, tuple[float, float]] = field(default_factory=dict)
    nodes: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def from_config(cls, config: CoordinatorConfig) -> PriceBook:
        nodes = (config.node_pricing.input_per_mtok, config.node_pricing.output_per_mtok)
        book = cls(nodes=nodes)
        for provider in config.providers:
            for m in provider.models:
                cur = book.by_model.get(m.name, nodes)
                book.by_model[m.name] = (max(cur[0], m.input_per_mtok), max(cur[1], m.output_per_mtok))
        return book

    def estimate(self, model: str, *, prompt_tokens: int, max_tokens: int,
                 node_routes: Iterable[NodeRoute] = ()) -> float:
        """Upper bound of a request's cost; `node_routes` adds the prices nodes advertise."""
        inp, out = self.by_model.get(model, self.nodes)
        for route in node_routes:
            inp = max(inp, route.input_per_mtok if route.input_per_mtok is not None else self.nodes[0])
            out = max(out, route.output_per_mtok if route.output_per_mtok is not None else self.nodes[1])
        return token_cost_usd(prompt_tokens, max_tokens, inp, out)
