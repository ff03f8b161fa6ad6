"""What a request costs, in one place: token prices, the energy of an own node, and the upper bound
over every route a request may take (what a quota reservation holds).

    Price(input_per_mtok=0.5, output_per_mtok=1.5).usd(prompt_tokens=120, completion_tokens=256)
    Price.highest([a, b, c])                           # per direction, the dearest of the routes
    energy_cost_usd(power_w=250, duration_s=2.0, energy_per_kwh=0.30)    # 4.2e-05 USD

The gateway settles with it (`targets.Target.cost`) and bounds admissions with it; the governance
estimates with it (`governance.pricing.PriceBook`). It lives beside `interfaces` because the
`Governor` protocol takes a `Price`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def token_cost_usd(prompt_tokens: int, completion_tokens: int, input_per_mtok: float, output_per_mtok: float) -> float:
    return (prompt_tokens * input_per_mtok + completion_tokens * output_per_mtok) / 1_000_000.0


def energy_cost_usd(power_w: float | None, duration_s: float, energy_per_kwh: float) -> float:
    """What a request cost an own node in electricity: watts x seconds -> kWh x price.
    Unknown power draw or no price configured: 0 (the caller falls back to per-token prices)."""
    if power_w is None or power_w <= 0 or duration_s <= 0 or energy_per_kwh <= 0:
        return 0.0
    kwh = power_w * duration_s / 3_600_000.0
    return kwh * energy_per_kwh


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens, each direction."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0

    def usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return token_cost_usd(prompt_tokens, completion_tokens, self.input_per_mtok, self.output_per_mtok)

    def at_least(self, other: Price) -> Price:
        """Per direction, the higher of the two prices."""
        return Price(max(self.input_per_mtok, other.input_per_mtok), max(self.output_per_mtok, other.output_per_mtok))

    @staticmethod
    def highest(prices: Iterable[Price], floor: Price | None = None) -> Price:
        """The upper bound of `prices` (and `floor`): a reservation at it covers whichever is used."""
        bound = floor if floor is not None else Price()
        for p in prices:
            bound = bound.at_least(p)
        return bound
