"""The fleet benchmark reports when the coordinator itself took a dead node offline (its
`node.offline` lifecycle event, read back from the audit log the way the bench does), not when a
status query happened to notice."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc

from bench.fleet_bench import ADMIN_KEY, _admin, offline_events
from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import CoordinatorConfig
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.proto.fleet.v1 import fleet_pb2_grpc as pb_grpc
from tests.agent.control.conftest import fleet_of, new_token, until
from tests.coordinator.fleet.conftest import DEADLINE_S, creds, register_request

INTERVAL_S, PATIENCE = 0.2, 1


async def test_the_dead_node_figure_is_the_coordinators_own_offline_event(tmp_path: Path) -> None:
    cfg = CoordinatorConfig(http_port=0, grpc_port=0, data_dir=tmp_path / "coord", heartbeat_interval_s=INTERVAL_S,
                            patience=PATIENCE).validate()
    coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
    await coord.start()
    try:
        start = time.time()
        ids = []
        async with grpc.aio.insecure_channel(coord.grpc_target) as channel:
            stub = pb_grpc.FleetStub(channel)
            for name in ("victim", "other"):
                token = await new_token(coord)
                ident = await stub.Enroll(pb.EnrollRequest(token=token, name=name), timeout=DEADLINE_S)
                await stub.Register(register_request(ident.node_id), metadata=creds(ident), timeout=DEADLINE_S)
                await stub.Heartbeat(pb.HeartbeatRequest(node_id=ident.node_id, seq=1), metadata=creds(ident),
                                     timeout=DEADLINE_S)
                ids.append(ident.node_id)
        # Both stop beating; the coordinator's sweep takes them offline and audits it.
        registry = fleet_of(coord).registry
        await until(lambda: all(not registry.get(i).alive for i in ids),  # type: ignore[union-attr]
                    what="the sweep to take both nodes offline")
        path = f"/admin/v1/audit?action=node.offline&since={start - 1:.3f}&limit=10000"
        events = (await asyncio.to_thread(_admin, coord.url, path))["data"]
        event, others = offline_events(events, ids[0])
        assert event is not None and event["actor"] == "coordinator" and others == [ids[1]]
        # The figure's parts come from the coordinator: never offline before its own deadline.
        assert event["details"]["silent_s"] >= INTERVAL_S * PATIENCE
        assert event["ts"] >= event["details"]["last_seen"] + INTERVAL_S * PATIENCE
        assert offline_events(events, "node_absent") == (None, sorted(ids))
    finally:
        await coord.stop(grace_s=1.0)
