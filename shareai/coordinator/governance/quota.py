"""Token and cost quotas per day and per month (UTC), reserved at admission and settled after.

    ledger = QuotaLedger()
    refusal = ledger.check(scope, limits, now, tokens=900, cost=0.002)   # None: it fits
    res = ledger.reserve([scope], now, tokens=900, cost=0.002)
    ledger.settle(res, tokens=412, cost=0.0009)                          # or ledger.release(res)

A request is admitted only if `used + reserved + its estimate` stays within every cap, and the
reservation counts until it is settled, so a concurrent burst cannot overshoot: what the gateway
reserves is an upper bound (the prompt's UTF-8 bytes plus overheads, plus the completion cap of every
choice, at the model's highest configured price). Usage is booked to the periods of admission, in
full even above the reservation. `load` rebuilds `used` from usage records after a restart; `prune`
(called by admission once a day) forgets past periods.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field

from shareai.coordinator.governance.models import Limits


def period_keys(now: float) -> tuple[str, str]:
    """The UTC day and month `now` falls in: (`d:2026-11-25`, `m:2026-11`)."""
    t = time.gmtime(now)
    return f"d:{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}", f"m:{t.tm_year:04d}-{t.tm_mon:02d}"


def day_start(now: float) -> float:
    t = time.gmtime(now)
    return float(calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0)))


def month_start(now: float) -> float:
    t = time.gmtime(now)
    return float(calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0)))


def next_day(now: float) -> float:
    return day_start(now) + 86400.0


def next_month(now: float) -> float:
    t = time.gmtime(now)
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return float(calendar.timegm((year, month, 1, 0, 0, 0)))


@dataclass(slots=True)
class Tally:
    tokens: int = 0
    cost: float = 0.0


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request does not fit a quota, for the 429 message."""

    scope: str
    what: str  # daily_tokens | monthly_tokens | daily_cost | monthly_cost
    cap: float
    used: float
    retry_after_s: float

    def message(self) -> str:
        period = "daily" if self.what.startswith("daily") else "monthly"
        unit = "tokens" if self.what.endswith("tokens") else "USD"
        cap = f"{self.cap:g}" if unit == "tokens" else f"{self.cap:.4f}"
        return (f"You exceeded the {period} quota of {cap} {unit} for {self.scope} "
                f"(used or reserved: {self.used:g}). The quota resets at the start of the next "
                f"{'day' if period == 'daily' else 'month'} (UTC).")


@dataclass(slots=True)
class Reservation:
    scopes: tuple[str, ...]
    periods: tuple[str, str]
    tokens: int
    cost: float
    open: bool = True


@dataclass(slots=True)
class QuotaLedger:
    used: dict[tuple[str, str], Tally] = field(default_factory=dict)
    reserved: dict[tuple[str, str], Tally] = field(default_factory=dict)

    def _total(self, scope: str, period: str) -> Tally:
        u = self.used.get((scope, period), Tally())
        r = self.reserved.get((scope, period), Tally())
        return Tally(u.tokens + r.tokens, u.cost + r.cost)

    def check(self, scope: str, limits: Limits, now: float, *, tokens: int, cost: float) -> Refusal | None:
        day, month = period_keys(now)
        checks = (
            ("daily_tokens", limits.daily_tokens, day, True, next_day(now)),
            ("monthly_tokens", limits.monthly_tokens, month, True, next_month(now)),
            ("daily_cost", limits.daily_cost, day, False, next_day(now)),
            ("monthly_cost", limits.monthly_cost, month, False, next_month(now)),
        )
        for what, cap, period, is_tokens, resets_at in checks:
            if cap is None:
                continue
            total = self._total(scope, period)
            have = total.tokens if is_tokens else total.cost
            want = tokens if is_tokens else cost
            # A tiny epsilon keeps float sums of costs from refusing an exact fit.
            if have + want > cap + (0 if is_tokens else 1e-12):
                return Refusal(scope, what, float(cap), float(have), resets_at - now)
        return None

    def reserve(self, scopes: list[str], now: float, *, tokens: int, cost: float) -> Reservation:
        periods = period_keys(now)
        for scope in scopes:
            for period in periods:
                t = self.reserved.setdefault((scope, period), Tally())
                t.tokens += tokens
                t.cost += cost
        return Reservation(tuple(scopes), periods, tokens, cost)

    def _unreserve(self, res: Reservation) -> None:
        for scope in res.scopes:
            for period in res.periods:
                t = self.reserved.get((scope, period))
                if t is None:
                    continue
                t.tokens -= res.tokens
                t.cost -= res.cost
                if t.tokens <= 0 and t.cost <= 1e-12:
                    del self.reserved[(scope, period)]

    def settle(self, res: Reservation, *, tokens: int, cost: float) -> None:
        if not res.open:
            return
        res.open = False
        self._unreserve(res)
        for scope in res.scopes:
            for period in res.periods:
                self.add_used(scope, period, tokens, cost)

    def release(self, res: Reservation) -> None:
        if res.open:
            res.open = False
            self._unreserve(res)

    def add_used(self, scope: str, period: str, tokens: int, cost: float) -> None:
        t = self.used.setdefault((scope, period), Tally())
        t.tokens += tokens
        t.cost += cost

    def load(self, scope: str, period: str, tokens: int, cost: float) -> None:
        """Rebuild after a restart: `used` of one scope and period from recorded usage."""
        self.used[(scope, period)] = Tally(tokens, cost)

    def prune(self, now: float) -> None:
        """Forget settled tallies of past periods (reservations are left to their settlement)."""
        current = set(period_keys(now))
        for key in [k for k in self.used if k[1] not in current]:
            del self.used[key]
