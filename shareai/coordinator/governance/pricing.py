"""Prices the governance needs: the worst-case price of a model (quota reservations) and the
energy price of an own node. The arithmetic is `shareai.coordinator.price`, shared with the gateway.

    book = PriceBook.from_config(coord.config)
    book.estimate("gemma-3-270m", prompt_tokens=120, max_tokens=256)     # USD upper bound
    energy_cost_usd(power_w=250, duration_s=2.0, energy_per_kwh=0.30)    # 4.2e-05 USD
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.interfaces import NodeRoute
from shareai.coordinator.price import Price, energy_cost_usd

__all__ = ["PriceBook", "energy_cost_usd"]


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

    def bound(self, model: str, node_routes: Iterable[NodeRoute] = ()) -> Price:
        """The highest price of `model` over the configured routes and `node_routes` (what nodes advertise)."""
        default = Price(*self.nodes)
        floor = Price(*self.by_model.get(model, self.nodes))
        return Price.highest((Price(default.input_per_mtok if r.input_per_mtok is None else r.input_per_mtok,
                                    default.output_per_mtok if r.output_per_mtok is None else r.output_per_mtok)
                              for r in node_routes), floor)

    def estimate(self, model: str, *, prompt_tokens: int, max_tokens: int,
                 node_routes: Iterable[NodeRoute] = ()) -> float:
        """Upper bound of a request's cost; `node_routes` adds the prices nodes advertise."""
        return self.bound(model, node_routes).usd(prompt_tokens, max_tokens)
