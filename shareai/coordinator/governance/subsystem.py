"""Governance as a coordinator subsystem: the gateway's `Authenticator` and `Governor` in one object.

    gov = coord.subsystem("governance")
    principal = await gov.authenticate(token)
    admission = await gov.admit(principal, model=m, prompt_tokens=p, max_tokens=n)
    hit = gov.cache_get(principal, body); gov.cache_put(principal, body, CachedResponse(...))
    gov.record(UsageRecord(...))                            # buffered, flushed every 0.5 s
                                                            # ([governance] usage_flush_interval_s)

At start it loads orgs, keys and limits into memory and rebuilds this day's and month's quota
usage from the usage records, so caps hold across restarts. On close it drains the usage buffer
(SIGTERM loses nothing; `kill -9` loses at most the last flush interval).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shareai.coordinator.governance.auth import KeyAuthenticator
from shareai.coordinator.governance.cache import DEFAULT_MAX_BYTES, ResponseCache
from shareai.coordinator.governance.directory import Directory
from shareai.coordinator.governance.governor import Governance, GovernedAdmission
from shareai.coordinator.governance.models import key_scope, org_scope
from shareai.coordinator.governance.pricing import PriceBook
from shareai.coordinator.governance.quota import QuotaLedger, day_start, month_start, period_keys
from shareai.coordinator.governance.routes import GovernanceAdmin
from shareai.coordinator.governance.sqlite_store import GOVERNANCE_SCHEMA, SqliteGovernanceStore, insert_usage
from shareai.coordinator.governance.store import GovernanceStore
from shareai.coordinator.interfaces import (
    Authenticator,
    CachedResponse,
    Governor,
    NodeDirectory,
    Principal,
    UsageRecord,
)
from shareai.coordinator.price import Price
from shareai.coordinator.store.buffer import BatchWriter
from shareai.coordinator.store.db import Schema

if TYPE_CHECKING:
    from shareai.coordinator.app import Coordinator

# Usage rows are flushed twice a second by default (`[governance] usage_flush_interval_s`, <= 1 s):
# the `kill -9` loss bound is this interval plus one write.
USAGE_FLUSH_INTERVAL_S = 0.5


async def rebuild_quotas(ledger: QuotaLedger, store: GovernanceStore, now: float) -> None:
    """Settled usage of the current day and month per org and per key, from the usage records."""
    day, month = period_keys(now)
    for period, since in ((day, day_start(now)), (month, month_start(now))):
        per_org: dict[str, tuple[int, float]] = {}
        for t in await store.usage_totals(since=since):
            if t.org is None:
                continue
            ledger.load(key_scope(t.key_id), period, t.tokens, t.cost)
            tokens, cost = per_org.get(t.org, (0, 0.0))
            per_org[t.org] = (tokens + t.tokens, cost + t.cost)
        for org, (tokens, cost) in per_org.items():
            ledger.load(org_scope(org), period, tokens, cost)


def _fleet(coord: Coordinator) -> Any:
    try:
        return coord.subsystem("fleet")
    except KeyError:
        return None


def _fleet_directory(coord: Coordinator) -> NodeDirectory | None:
    """The fleet's live node view, when the coordinator runs a fleet (its prices bound reservations)."""
    try:
        fleet = coord.subsystem("fleet")
    except KeyError:
        return None
    directory = getattr(fleet, "directory", fleet)
    return directory if hasattr(directory, "routes_for") else None


class GovernanceSubsystem:
    name = "governance"
    schemas: tuple[Schema, ...] = (GOVERNANCE_SCHEMA,)

    def __init__(self, *, clock: Callable[[], float] | None = None, cache_max_bytes: int | None = None,
                 flush_interval_s: float | None = None) -> None:
        # None: the coordinator config's `[governance]` table decides at start (explicit values win).
        self._clock_override = clock
        self._cache_max_bytes_override = cache_max_bytes
        self._flush_interval_override = flush_interval_s
        self.cache_max_bytes = cache_max_bytes if cache_max_bytes is not None else DEFAULT_MAX_BYTES
        self.flush_interval_s = flush_interval_s if flush_interval_s is not None else USAGE_FLUSH_INTERVAL_S
        self.clock: Callable[[], float] = clock or time.time
        self.store: SqliteGovernanceStore
        self.directory: Directory
        self.writer: BatchWriter[UsageRecord]
        self.governance: Governance
        self.authenticator: KeyAuthenticator
        self.admin_api: GovernanceAdmin

    async def start(self, coord: Coordinator) -> None:
        self.clock = self._clock_override or coord.clock
        gov_cfg = coord.config.governance
        if self._cache_max_bytes_override is None:
            self.cache_max_bytes = gov_cfg.cache_max_bytes
        if self._flush_interval_override is None:
            self.flush_interval_s = gov_cfg.usage_flush_interval_s
        self.store = SqliteGovernanceStore(coord.db)
        self.directory = await Directory.load(self.store, coord.audit, self.clock)
        retire_org = getattr(_fleet(coord), "retire_org", None)  # deleting an org revokes its nodes and tokens
        if retire_org is not None:
            self.directory.org_delete_hooks.append(retire_org)
        self.writer = BatchWriter(coord.db, insert_usage, name="usage", interval_s=self.flush_interval_s)
        self.governance = Governance(
            self.directory, prices=PriceBook.from_config(coord.config),
            cache=ResponseCache(self.cache_max_bytes, clock=time.monotonic), sink=self.writer, clock=self.clock,
            nodes=_fleet_directory(coord),
        )
        await rebuild_quotas(self.governance.ledger, self.store, self.clock())
        self.writer.start()
        self.authenticator = KeyAuthenticator(self.directory, admin=coord.admin,
                                              bootstrap_keys=coord.config.api_keys, clock=self.clock)
        self.admin_api = GovernanceAdmin(self.directory, self.store, coord.audit, coord.admin,
                                         self.writer.flush, self.clock)
        self.admin_api.add_routes(coord.http_app.router)

    async def close(self) -> None:
        await self.writer.close()

    # -- Authenticator ---------------------------------------------------------------------------

    async def authenticate(self, token: str | None) -> Principal:
        return await self.authenticator.authenticate(token)

    # -- Governor --------------------------------------------------------------------------------

    async def admit(self, principal: Principal, *, model: str, prompt_tokens: int, max_tokens: int,
                    max_price: Price | None = None) -> GovernedAdmission:
        return await self.governance.admit(principal, model=model, prompt_tokens=prompt_tokens,
                                           max_tokens=max_tokens, max_price=max_price)

    def rate_headers(self, principal: Principal) -> dict[str, str]:
        """Current `x-ratelimit-*` headers of a principal, consuming nothing (answers before admission)."""
        return self.governance.rate_headers(principal)

    def cache_get(self, principal: Principal, request: dict[str, Any]) -> CachedResponse | None:
        return self.governance.cache_get(principal, request)

    def cache_put(self, principal: Principal, request: dict[str, Any], response: CachedResponse) -> None:
        self.governance.cache_put(principal, request, response)

    def record(self, usage: UsageRecord) -> None:
        self.governance.record(usage)


def as_gateway_contracts(sub: GovernanceSubsystem) -> tuple[Authenticator, Governor]:
    """The subsystem is the gateway's `Authenticator` and `Governor` (checked statically by mypy)."""
    return sub, sub
