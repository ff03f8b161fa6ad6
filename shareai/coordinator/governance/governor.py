"""The gateway's `Governor`: rate limits, quota reservations, the response cache and accounting.

    admission = await governance.admit(principal, model="gemma", prompt_tokens=40, max_tokens=256)
    response.headers.update(admission.headers)        # x-ratelimit-* for limited orgs
    ...
    admission.settle(prompt_tokens=40, completion_tokens=97, cost_usd=0.00003)   # or .release()
    governance.record(UsageRecord(...))

`admit` decides without awaiting anything, so concurrent admissions on the event loop are
serialised and exact. Limits apply to the org's scope and, when set, to the key's. A request is
refused if any scope refuses it, and then nothing is counted anywhere. Bootstrap principals
(`org=None`) are never limited. The gateway passes upper bounds: `prompt_tokens` is the prompt's
UTF-8 bytes plus overheads (`gateway.token_bound`), `max_tokens` the completion cap of every choice
(the client's, else `GatewayOptions.default_max_tokens`, the one default). Settlement books what
the upstream reported, in full, even above the reservation (an overrun, logged by the gateway).
Old day and month tallies are pruned from the ledger when admission sees a new UTC day.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from shareai.coordinator.governance.cache import ResponseCache, cache_key
from shareai.coordinator.governance.directory import OrgDirectory
from shareai.coordinator.governance.models import Limits, key_scope, org_scope
from shareai.coordinator.governance.pricing import PriceBook
from shareai.coordinator.governance.quota import QuotaLedger, Refusal, Reservation, period_keys
from shareai.coordinator.governance.ratelimit import SlidingWindow, WindowEntry, rate_headers, tightest
from shareai.coordinator.interfaces import CachedResponse, NodeDirectory, Principal, UsageRecord
from shareai.coordinator.price import Price
from shareai.wire.errors import AccountingBacklog, QuotaExceeded, RateLimited


class UsageSink(Protocol):
    """Where usage records go: the accounting `BatchWriter` (or a test's list)."""

    @property
    def backlogged(self) -> bool:
        """Full: nothing more may be admitted until the records are written."""
        ...

    def put(self, record: UsageRecord) -> None:
        ...


@dataclass(slots=True)
class _Windows:
    requests: SlidingWindow | None = None
    tokens: SlidingWindow | None = None


def _sync(window: SlidingWindow | None, limit: int | None) -> SlidingWindow | None:
    """Keep a scope's window in step with its limit (a changed limit keeps the counts)."""
    if limit is None:
        return None
    if window is None:
        return SlidingWindow(limit)
    window.limit = limit
    return window


@dataclass(slots=True)
class GovernedAdmission:
    """Implements `interfaces.Admission`: holds the token-window entries and quota reservation."""

    headers: dict[str, str]
    # A token quota or `tpm` applies: the gateway then caps what the upstream may write (max_tokens).
    token_limited: bool = False
    _ledger: QuotaLedger | None = None
    _reservation: Reservation | None = None
    _token_entries: list[tuple[SlidingWindow, WindowEntry]] = field(default_factory=list)
    _done: bool = False

    def settle(self, *, prompt_tokens: int, completion_tokens: int, cost_usd: float) -> None:
        if self._done:
            return
        self._done = True
        used = max(0, prompt_tokens) + max(0, completion_tokens)
        for window, entry in self._token_entries:
            window.adjust(entry, used)
        if self._ledger is not None and self._reservation is not None:
            self._ledger.settle(self._reservation, tokens=used, cost=max(0.0, cost_usd))

    def release(self) -> None:
        if self._done:
            return
        self._done = True
        for window, entry in self._token_entries:
            window.adjust(entry, 0)
        if self._ledger is not None and self._reservation is not None:
            self._ledger.release(self._reservation)


class OrgGovernor:
    def __init__(self, directory: OrgDirectory, *, prices: PriceBook, cache: ResponseCache, sink: UsageSink,
                 clock: Callable[[], float] = time.time, nodes: NodeDirectory | None = None) -> None:
        self.directory = directory
        self.nodes = nodes  # the fleet, for the prices nodes advertise (cost reservations)
        self.prices = prices
        self.cache = cache
        self.ledger = QuotaLedger()
        self._sink = sink
        self._clock = clock
        self._windows: dict[str, _Windows] = {}
        self._pruned_day = ""

    def _scopes(self, principal: Principal) -> list[tuple[str, Limits]]:
        scopes: list[tuple[str, Limits]] = []
        if principal.org is None:
            return scopes
        for scope in (org_scope(principal.org), key_scope(principal.key_id)):
            limits = self.directory.limits_for(scope)
            if limits is not None:
                scopes.append((scope, limits))
        return scopes

    def _windows_for(self, scope: str, limits: Limits) -> _Windows:
        w = self._windows.setdefault(scope, _Windows())
        w.requests = _sync(w.requests, limits.rpm)
        w.tokens = _sync(w.tokens, limits.tpm)
        return w

    async def admit(self, principal: Principal, *, model: str, prompt_tokens: int, max_tokens: int,
                    max_price: Price | None = None) -> GovernedAdmission:
        # Every request ends as a usage record: while the accounting buffer is full (the disk is
        # failing or slow) new requests are refused rather than served unaccounted or buffered
        # without bound.
        if self._sink.backlogged:
            raise AccountingBacklog("Usage accounting is behind (the coordinator cannot write its database); "
                                    "no request is admitted until it catches up. Please retry shortly.")
        return self.admit_now(principal, model=model, prompt_tokens=prompt_tokens, max_tokens=max_tokens,
                              max_price=max_price, now=self._clock())

    def admit_now(self, principal: Principal, *, model: str, prompt_tokens: int, max_tokens: int,
                  now: float, max_price: Price | None = None) -> GovernedAdmission:
        """The whole decision, synchronous: check every scope, then count in every scope.

        `max_price` is the dearest route the request may take, as the gateway found it in its one
        lookup of the model's routes; without it (a caller that did no lookup) the price book and
        the fleet give the bound."""
        self._prune(now)
        scopes = self._scopes(principal)
        if not scopes:
            return GovernedAdmission(headers={})
        completion = max(0, max_tokens)
        tokens = max(0, prompt_tokens) + completion
        cost = 0.0
        if any(limits.daily_cost is not None or limits.monthly_cost is not None for _, limits in scopes):
            if max_price is None:
                routes = self.nodes.routes_for(model, principal.org) if self.nodes is not None else []
                max_price = self.prices.bound(model, routes)
            cost = max_price.usd(max(0, prompt_tokens), completion)
        windows = [self._windows_for(scope, limits) for scope, limits in scopes]
        req_windows = [w.requests for w in windows if w.requests is not None]
        tok_windows = [w.tokens for w in windows if w.tokens is not None]

        # Rate limits first (they clear within a minute), then quotas.
        wait = max([w.wait_for(now, 1) for w in req_windows] + [w.wait_for(now, tokens) for w in tok_windows]
                   + [0.0])
        if wait > 0:
            headers = rate_headers(tightest(req_windows, now), tightest(tok_windows, now))
            too_big = any(tokens > w.limit for w in tok_windows)
            what = (f"this request's {tokens} tokens exceed the limit of tokens per minute" if too_big
                    else "Rate limit reached for requests or tokens per minute")
            raise RateLimited(f"{what} for org '{principal.org}'. Please try again in {wait:.1f}s.",
                              retry_after=wait, headers=headers)
        refusal: Refusal | None = None
        for scope, limits in scopes:
            refusal = self.ledger.check(scope, limits, now, tokens=tokens, cost=cost)
            if refusal is not None:
                break
        if refusal is not None:
            headers = rate_headers(tightest(req_windows, now), tightest(tok_windows, now))
            raise QuotaExceeded(refusal.message(), retry_after=refusal.retry_after_s, headers=headers)

        for w in req_windows:
            w.add(now, 1)
        entries = [(w, w.add(now, tokens)) for w in tok_windows]
        quota_scopes = [scope for scope, limits in scopes if _has_quota(limits)]
        reservation = (self.ledger.reserve(quota_scopes, now, tokens=tokens, cost=cost) if quota_scopes else None)
        headers = rate_headers(tightest(req_windows, now), tightest(tok_windows, now))
        token_limited = bool(tok_windows) or any(
            limits.daily_tokens is not None or limits.monthly_tokens is not None for _, limits in scopes)
        return GovernedAdmission(headers=headers, token_limited=token_limited, _ledger=self.ledger,
                                 _reservation=reservation, _token_entries=entries)

    def _prune(self, now: float) -> None:
        """Once per UTC day: drop the settled tallies of past days and months (memory stays bounded)."""
        day = period_keys(now)[0]
        if day != self._pruned_day:
            self._pruned_day = day
            self.ledger.prune(now)

    def rate_headers(self, principal: Principal, now: float | None = None) -> dict[str, str]:
        """The `x-ratelimit-*` headers as they stand, consuming nothing: for the answers given
        before admission (404 unknown model, 403 model not allowed, 400) and for `GET /v1/models`,
        so every answer of a limited org carries them."""
        scopes = self._scopes(principal)
        if not scopes:
            return {}
        now = self._clock() if now is None else now
        windows = [self._windows_for(scope, limits) for scope, limits in scopes]
        return rate_headers(tightest([w.requests for w in windows if w.requests is not None], now),
                            tightest([w.tokens for w in windows if w.tokens is not None], now))

    # -- cache -----------------------------------------------------------------------------------

    def _cache_key(self, principal: Principal, request: dict[str, Any]) -> str | None:
        return cache_key(principal.org or "", principal.cache_mode, request)

    def cache_get(self, principal: Principal, request: dict[str, Any]) -> CachedResponse | None:
        key = self._cache_key(principal, request)
        return self.cache.get(key) if key is not None else None

    def cache_put(self, principal: Principal, request: dict[str, Any], response: CachedResponse) -> None:
        key = self._cache_key(principal, request)
        if key is not None:
            self.cache.put(key, response, ttl_s=principal.cache_ttl_s)

    # -- accounting ------------------------------------------------------------------------------

    def record(self, usage: UsageRecord) -> None:
        self._sink.put(usage)


def _has_quota(limits: Limits) -> bool:
    return any(v is not None for v in (limits.daily_tokens, limits.monthly_tokens, limits.daily_cost,
                                       limits.monthly_cost))
