"""Governance as a coordinator subsystem: the gateway's `Authenticator` and `Governor` in one object.

    gov = GovernanceSubsystem(config, clock=clock, nodes=fleet.directory, retire_org=fleet.retire_org)
    principal = await gov.authenticate(token)
    admission = await gov.admit(principal, model=m, prompt_tokens=p, max_tokens=n)
    hit = gov.cache_get(principal, body); gov.cache_put(principal, body, CachedResponse(...))
    gov.record(UsageRecord(...))                            # buffered, flushed every 0.5 s
                                                            # ([governance] usage_flush_interval_s)

Config is read at construction; its collaborators are passed in by `compose.build_coordinator`
(the fleet's node view prices reservations, `retire_org` revokes a deleted org's nodes and tokens).
At start it loads orgs, keys and limits into memory and rebuilds this day's and month's quota
usage from the usage records, so caps hold across restarts. On close it drains the usage buffer
(SIGTERM loses nothing; `kill -9` loses at most the last flush interval).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc

from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.governance.auth import KeyAuthenticator
from shareai.coordinator.governance.cache import ResponseCache
from shareai.coordinator.governance.directory import OrgDirectory
from shareai.coordinator.governance.governor import GovernedAdmission, OrgGovernor
from shareai.coordinator.governance.models import key_scope, org_scope
from shareai.coordinator.governance.pricing import PriceBook
from shareai.coordinator.governance.quota import QuotaLedger, day_start, month_start, period_keys
from shareai.coordinator.governance.routes import GovernanceAdminRoutes
from shareai.coordinator.governance.sqlite_store import GOVERNANCE_SCHEMA, SqliteGovernanceStore, insert_usage
from shareai.coordinator.governance.store import GovernanceStore
from shareai.coordinator.interfaces import (
    Authenticator,
    CachedResponse,
    Governor,
    Host,
    NodeDirectory,
    OrgLookup,
    Principal,
    RetireOrg,
    UsageRecord,
)
from shareai.coordinator.price import Price
from shareai.coordinator.store.buffer import BatchWriter
from shareai.coordinator.store.db import Schema

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


class GovernanceSubsystem:
    name = "governance"
    schemas: tuple[Schema, ...] = (GOVERNANCE_SCHEMA,)

    def __init__(self, config: CoordinatorConfig, *, nodes: NodeDirectory, retire_org: RetireOrg,
                 clock: Callable[[], float] = time.time, cache_max_bytes: int | None = None,
                 flush_interval_s: float | None = None) -> None:
        # Explicit values win over the `[governance]` table (tests shorten the flush interval).
        gov_cfg = config.governance
        self.cache_max_bytes = cache_max_bytes if cache_max_bytes is not None else gov_cfg.cache_max_bytes
        self.flush_interval_s = flush_interval_s if flush_interval_s is not None else gov_cfg.usage_flush_interval_s
        self.clock = clock
        self._prices = PriceBook.from_config(config)
        self._bootstrap_keys = list(config.api_keys)
        self._nodes = nodes
        self._retire_org = retire_org
        self.store: SqliteGovernanceStore
        self.directory: OrgDirectory
        self.writer: BatchWriter[UsageRecord]
        self.governor: OrgGovernor
        self.authenticator: KeyAuthenticator
        self.admin_api: GovernanceAdminRoutes

    async def start(self, host: Host) -> None:
        self.store = SqliteGovernanceStore(host.db)
        self.directory = await OrgDirectory.load(self.store, host.audit, self.clock)
        self.directory.org_delete_hooks.append(self._retire_org)  # deleting an org revokes its nodes and tokens
        self.writer = BatchWriter(host.db, insert_usage, name="usage", interval_s=self.flush_interval_s)
        self.governor = OrgGovernor(
            self.directory, prices=self._prices,
            cache=ResponseCache(self.cache_max_bytes, clock=time.monotonic), sink=self.writer, clock=self.clock,
            nodes=self._nodes,
        )
        await rebuild_quotas(self.governor.ledger, self.store, self.clock())
        self.writer.start()
        self.authenticator = KeyAuthenticator(self.directory, admin=host.admin,
                                              bootstrap_keys=self._bootstrap_keys, clock=self.clock)
        self.admin_api = GovernanceAdminRoutes(self.directory, self.store, host.audit, host.admin,
                                         self.writer.flush, self.clock)
        self.admin_api.add_routes(host.http_app)

    def grpc_interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        return []

    def add_grpc_services(self, server: grpc.aio.Server) -> None:
        pass

    async def close(self) -> None:
        await self.writer.close()

    # -- Authenticator ---------------------------------------------------------------------------

    async def authenticate(self, token: str | None) -> Principal:
        return await self.authenticator.authenticate(token)

    # -- Governor --------------------------------------------------------------------------------

    async def admit(self, principal: Principal, *, model: str, prompt_tokens: int, max_tokens: int,
                    max_price: Price | None = None) -> GovernedAdmission:
        return await self.governor.admit(principal, model=model, prompt_tokens=prompt_tokens,
                                           max_tokens=max_tokens, max_price=max_price)

    def rate_headers(self, principal: Principal) -> dict[str, str]:
        """Current `x-ratelimit-*` headers of a principal, consuming nothing (answers before admission)."""
        return self.governor.rate_headers(principal)

    def cache_get(self, principal: Principal, request: dict[str, Any]) -> CachedResponse | None:
        return self.governor.cache_get(principal, request)

    def cache_put(self, principal: Principal, request: dict[str, Any], response: CachedResponse) -> None:
        self.governor.cache_put(principal, request, response)

    def record(self, usage: UsageRecord) -> None:
        self.governor.record(usage)

    # -- OrgLookup (the fleet's enrollment tokens name an existing org) ----------------------------

    def org_exists(self, org: str) -> bool:
        return org in self.directory.orgs


def as_gateway_contracts(sub: GovernanceSubsystem) -> tuple[Authenticator, Governor, OrgLookup]:
    """The subsystem is the gateway's `Authenticator` and `Governor` and the fleet's `OrgLookup`
    (checked statically by mypy)."""
    return sub, sub, sub
