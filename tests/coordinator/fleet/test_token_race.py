"""Enrollment tokens under a concurrent burst: raw gRPC calls on separate connections, all at once."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.proto.fleet.v1 import fleet_pb2_grpc as pb_grpc
from tests.coordinator.fleet.conftest import DEADLINE_S, Harness


async def _race(h: Harness, token: str, racers: int) -> tuple[list[pb.EnrollResponse], list[grpc.aio.AioRpcError]]:
    channels = [grpc.aio.insecure_channel(h.coord.grpc_target) for _ in range(racers)]
    try:
        await asyncio.gather(*(ch.channel_ready() for ch in channels))
        start = asyncio.Event()

        async def one(i: int, ch: grpc.aio.Channel) -> pb.EnrollResponse:
            await start.wait()
            resp: pb.EnrollResponse = await pb_grpc.FleetStub(ch).Enroll(
                pb.EnrollRequest(token=token, name=f"racer-{i}"), timeout=DEADLINE_S)
            return resp

        tasks = [asyncio.create_task(one(i, ch)) for i, ch in enumerate(channels)]
        await asyncio.sleep(0)  # every task is parked on the event: released together
        start.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await asyncio.gather(*(ch.close() for ch in channels))
    won = [r for r in results if isinstance(r, pb.EnrollResponse)]
    lost = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    other = [r for r in results if not isinstance(r, pb.EnrollResponse | grpc.aio.AioRpcError)]
    assert not other and len(won) + len(lost) == racers, other
    return won, lost


@pytest.mark.parametrize(("uses", "racers"), [(1, 16), (5, 12)])
async def test_a_token_admits_exactly_its_uses_under_a_concurrent_burst(harness: Harness, uses: int,
                                                                       racers: int) -> None:
    token = await harness.token(uses=uses)
    won, lost = await _race(harness, token, racers)
    assert len(won) == uses
    assert len({w.node_id for w in won}) == uses
    assert all(e.code() == grpc.StatusCode.UNAUTHENTICATED and "already been used" in (e.details() or "")
               for e in lost)
    assert len(harness.fleet.store.all()) == uses  # no identity was created for a losing call
    (info,) = await harness.fleet.tokens.list()
    assert info.uses_left == 0
