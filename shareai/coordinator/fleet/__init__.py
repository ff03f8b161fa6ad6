"""The fleet: enrollment tokens, node identities, the live registry and its liveness, the gRPC
control plane (`fleet.v1.Fleet`) with its auth interceptor, admin routes and CLI verbs.

    tokens.py     enrollment tokens (hashed, expiring, N-use)
    nodes.py      node identities (secret hashes) and their last registration, in SQLite + memory
    liveness.py   pure liveness arithmetic (`is_alive(last_seen, now, interval, patience)`)
    registry.py   the live fleet in memory; implements the gateway's `NodeDirectory`
    service.py    behaviour: enroll, register, heartbeat, deregister, revoke, sweep, audit
    auth.py       the gRPC server interceptor (node secret, constant-time)
    servicer.py   the gRPC service, translating to `service.py`
    admin_routes.py, views.py, cli.py   the admin API and the `token` / `nodes` CLI verbs
"""

from __future__ import annotations

from shareai.coordinator.fleet.subsystem import FleetSubsystem

__all__ = ["FleetSubsystem"]
