"""`ControlSession` against a real grpc.aio server whose Heartbeat never answers: every call has a
deadline, so a hung coordinator costs one deadline per beat, never a stuck agent."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import grpc

from shareai.agent.control.identity import NodeIdentity
from shareai.agent.control.session import ControlSession
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.proto.fleet.v1 import fleet_pb2_grpc as pb_grpc
from tests.agent.control.conftest import until


class HungHeartbeats(pb_grpc.FleetServicer):
    def __init__(self) -> None:
        self.heartbeats = 0
        self.release = asyncio.Event()

    async def Register(self, request: pb.RegisterRequest, context: Any) -> pb.RegisterResponse:
        return pb.RegisterResponse(heartbeat_interval_s=0.2, patience=3, data_plane_secret="dp_x", org="acme")

    async def Heartbeat(self, request: pb.HeartbeatRequest, context: Any) -> pb.HeartbeatResponse:
        self.heartbeats += 1
        await self.release.wait()  # hangs until the test ends
        return pb.HeartbeatResponse()


async def test_a_hung_coordinator_costs_a_deadline_per_beat_and_the_loop_retries() -> None:
    servicer = HungHeartbeats()
    server = grpc.aio.server()
    pb_grpc.add_FleetServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    stop = asyncio.Event()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            ident = NodeIdentity(node_id="node_1", node_secret="ns_x", org="acme", coordinator="x")
            session = ControlSession(pb_grpc.FleetStub(channel), ident, describe=pb.RegisterRequest,
                                     snapshot=pb.HeartbeatRequest, on_registered=lambda resp: None,
                                     deadline_s=0.3, backoff_base_s=0.05, rng=random.Random(1))
            task = asyncio.create_task(session.run(stop))
            await until(lambda: servicer.heartbeats >= 3, what="three heartbeats sent to a hung server")
            assert session.registrations == 1 and session.failures >= 2 and session.heartbeats == 0
            assert not task.done()  # still trying, not stuck on the first call
            stop.set()
            await asyncio.wait_for(task, 10)
    finally:
        servicer.release.set()
        await server.stop(0.5)
