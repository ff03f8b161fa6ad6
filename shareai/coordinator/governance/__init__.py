"""Governance: orgs, API keys, rate limits, quotas, usage accounting and reports, response cache.

    models.py        Org, ApiKey, Limits and input checks
    store.py         GovernanceStore interface + in-memory store; sqlite_store.py: the SQLite one
    directory.py     in-memory orgs/keys/limits, written through to the store, audited
    auth.py          KeyAuthenticator (interfaces.Authenticator)
    ratelimit.py     sliding-window per-minute limits (pure, `now` injected)
    quota.py         day/month token and cost quotas: reserve, settle, release (pure)
    cache.py         exact-match response cache, TTL, LRU bounded in bytes
    pricing.py       worst-case model prices for reservations, own-node energy cost
    governor.py      OrgGovernor (interfaces.Governor)
    reports.py       usage report grouping and percentiles
    routes.py        admin API under /admin/v1/
    subsystem.py     GovernanceSubsystem, built by `compose.build_coordinator`
    cli.py           org | key | limits | usage | audit verbs
"""

from __future__ import annotations

from shareai.coordinator.governance.subsystem import GovernanceSubsystem

__all__ = ["GovernanceSubsystem"]
