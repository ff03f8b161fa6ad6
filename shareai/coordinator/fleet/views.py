"""How a node looks to the admin API and CLI: one JSON shape, from identity plus live state.

A live node is described from memory (its latest heartbeat); a node that is not registered since
this coordinator started is described from its last persisted registration.
"""

from __future__ import annotations

from typing import Any

from shareai import __version__
from shareai.coordinator.fleet.nodes import NodeRecord
from shareai.coordinator.fleet.registry import STATE_NAMES, LiveNode, Registry


def node_view(record: NodeRecord, live: LiveNode | None, registry: Registry, now: float) -> dict[str, Any]:
    reg = record.registration
    gpus = record.host.get("gpus", [])
    view: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "org": record.org,
        "status": registry.status(record, now).value,
        "enrolled_at": record.enrolled_at,
        "revoked_at": record.revoked_at,
        "last_seen": record.last_seen,
        "endpoint_url": reg.get("endpoint_url"),
        "mode": reg.get("mode"),
        "price": reg.get("price"),
        "models": [m["name"] for m in reg.get("models", [])],
        "load": {},
        "gpus": [{"name": g.get("name", ""), "uuid": g.get("uuid", ""),
                  "memory_total_bytes": int(g.get("memory_total_bytes", 0))} for g in gpus],
        "gpu_status": record.host.get("gpu_status", ""),
        # The agent's version as it last reported it ("" for an agent too old to say), and the
        # coordinator's: re-running the install one-liner brings the agent to the latter.
        "agent_version": record.host.get("agent_version", ""),
        "coordinator_version": __version__,
        "host": {k: v for k, v in record.host.items() if k != "gpus"},
    }
    if live is None:
        return view
    view["last_seen"] = live.last_seen
    view["endpoint_url"] = live.endpoint_url
    view["availability"] = STATE_NAMES.get(live.state, "unspecified")
    view["models"] = sorted(live.models)
    view["load"] = {}
    for name in live.models:
        load = live.model_load(name)
        view["load"][name] = {"slots": load.slots, "busy": load.slots_busy, "free": load.slots_free,
                              "queue_depth": load.queue_depth, "queue_limit": load.queue_limit, "n_ctx": load.n_ctx}
    hb = live.last_hb
    if hb is not None:
        view["inflight"] = hb.inflight
        view["cpu_pct"] = hb.cpu_pct
        view["power_w"] = hb.power_w if hb.has_power else None
        by_uuid = {g.uuid: g for g in hb.gpus}
        for g in view["gpus"]:
            cur = by_uuid.get(g["uuid"])
            if cur is not None:
                g.update(utilization_pct=cur.utilization_pct, memory_used_bytes=cur.memory_used_bytes,
                         power_w=cur.power_w, temperature_c=cur.temperature_c)
    return view


def load_summary(view: dict[str, Any]) -> str:
    """"busy/slots (+queue)" over all models, for the one-line table."""
    load = view.get("load") or {}
    if not load:
        return "-"
    busy = sum(m["busy"] for m in load.values())
    slots = sum(m["slots"] for m in load.values())
    queue = sum(m["queue_depth"] for m in load.values())
    return f"{busy}/{slots}" + (f" +{queue}q" if queue else "")
