"""Liveness arithmetic: pure functions of timestamps, so tests drive them with any `now`.

The coordinator owns liveness (agents only retry). A node is alive while its last heartbeat is
younger than `patience x interval`; past that it is offline and leaves routing at once, whether or
not the periodic sweep has run yet (`routes_for` checks `is_alive` itself; the sweep only turns the
transition into an event for the audit log).
"""

from __future__ import annotations

from enum import StrEnum


class NodeStatus(StrEnum):
    ONLINE = "online"    # heartbeating and available: routable
    AWAY = "away"        # heartbeating, but the owner is using the machine (or draining): not routable
    OFFLINE = "offline"  # no heartbeat within patience x interval, deregistered, or not registered yet
    REVOKED = "revoked"  # the admin revoked its identity: refused on every call


def offline_after_s(interval_s: float, patience: int) -> float:
    """How long without a heartbeat before a node is offline."""
    return interval_s * patience


def is_alive(last_seen: float, now: float, interval_s: float, patience: int) -> bool:
    return now - last_seen <= offline_after_s(interval_s, patience)


def status_of(*, revoked: bool, registered: bool, alive: bool, available: bool) -> NodeStatus:
    if revoked:
        return NodeStatus.REVOKED
    if not registered or not alive:
        return NodeStatus.OFFLINE
    return NodeStatus.ONLINE if available else NodeStatus.AWAY


def sweep_period_s(interval_s: float, patience: int) -> float:
    """How often the coordinator looks for stale nodes: a small fraction of the offline delay,
    so detection lags the deadline by at most this much (bounded to keep 10k-node sweeps cheap)."""
    return min(1.0, max(0.05, offline_after_s(interval_s, patience) / 20))
