"""A real coordinator (fleet subsystem only) on port 0, and helpers to talk to it as a node."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from shareai.coordinator.app import Coordinator
from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.fleet.service import FleetService
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.proto.fleet.v1 import fleet_pb2_grpc as pb_grpc
from tests.clock import ManualClock
from tests.coordinator.parts import fleet_coordinator

ADMIN_KEY = "sa-admin-test-key"
DEADLINE_S = 5.0


Clock = ManualClock


@dataclass
class Harness:
    coord: Coordinator
    channel: grpc.aio.Channel
    stub: pb_grpc.FleetStub
    http: aiohttp.ClientSession

    @property
    def fleet(self) -> FleetService:
        return self.coord.fleet.service  # type: ignore[attr-defined]

    async def admin(self, method: str, path: str, body: dict[str, Any] | None = None,
                    key: str | None = ADMIN_KEY) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with self.http.request(method, self.coord.url + path, json=body, headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=DEADLINE_S)) as resp:
            return resp.status, await resp.json()

    async def token(self, org: str = "acme", ttl_s: float = 3600, uses: int = 1) -> str:
        status, body = await self.admin("POST", "/admin/v1/tokens", {"org": org, "ttl_s": ttl_s, "uses": uses})
        assert status == 201, body
        return str(body["token"])

    async def enroll(self, org: str = "acme", name: str = "rig", node_id: str = "",
                     node_secret: str = "") -> pb.EnrollResponse:
        token = await self.token(org)
        resp: pb.EnrollResponse = await self.stub.Enroll(
            pb.EnrollRequest(token=token, name=name, node_id=node_id, node_secret=node_secret), timeout=DEADLINE_S)
        return resp

    async def register(self, ident: pb.EnrollResponse, *, models: tuple[str, ...] = ("m1",),
                       state: int = pb.AVAILABILITY_STATE_AVAILABLE) -> pb.RegisterResponse:
        req = register_request(ident.node_id, models=models, state=state)
        resp: pb.RegisterResponse = await self.stub.Register(req, metadata=creds(ident), timeout=DEADLINE_S)
        return resp

    async def beat(self, ident: pb.EnrollResponse, state: int = pb.AVAILABILITY_STATE_AVAILABLE,
                   busy: int = 0) -> pb.HeartbeatResponse:
        req = pb.HeartbeatRequest(node_id=ident.node_id, state=state,
                                  models=[pb.ModelLoad(name="m1", slots_busy=busy, slots_free=2 - busy)])
        resp: pb.HeartbeatResponse = await self.stub.Heartbeat(req, metadata=creds(ident), timeout=DEADLINE_S)
        return resp


def creds(ident: pb.EnrollResponse, secret: str | None = None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {secret if secret is not None else ident.node_secret}"),
            ("x-shareai-node-id", ident.node_id))


def register_request(node_id: str, *, models: tuple[str, ...] = ("m1",),
                     state: int = pb.AVAILABILITY_STATE_AVAILABLE) -> pb.RegisterRequest:
    return pb.RegisterRequest(
        node_id=node_id, name="rig",
        host=pb.HostInfo(hostname="rig", cpu_cores_logical=8,
                         gpus=[pb.GpuInfo(index=0, name="NVIDIA H100", uuid="GPU-1", memory_total_bytes=80 << 30)]),
        models=[pb.ModelInfo(name=m, slots=2, n_ctx=4096, queue_limit=8) for m in models],
        endpoint_url="http://127.0.0.1:9/v1", mode=pb.AVAILABILITY_MODE_ALWAYS_ON, state=state,  # type: ignore[arg-type]
        price=pb.Price(set=True, input_per_mtok=0.1, output_per_mtok=0.2),
    )


def make_config(data_dir: Path, interval_s: float = 5.0, patience: int = 3, grpc_port: int = 0,
                tls: tuple[Path, Path] | None = None) -> CoordinatorConfig:
    return CoordinatorConfig(http_host="127.0.0.1", http_port=0, grpc_host="127.0.0.1", grpc_port=grpc_port,
                             data_dir=data_dir, heartbeat_interval_s=interval_s, patience=patience,
                             tls_cert=tls[0] if tls else None, tls_key=tls[1] if tls else None).validate()


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and localhost (the `openssl` CLI; no extra packages)."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


async def start_coordinator(data_dir: Path, clock: Clock | None = None, *, full: bool = False,
                            **cfg: Any) -> Coordinator:
    """The fleet alone (tokens may name any org), or `full`: the whole coordinator (`build_coordinator`)."""
    config = make_config(data_dir, **cfg)
    kwargs: dict[str, Any] = {"clock": clock} if clock is not None else {}
    coord = (build_coordinator(config, admin_key=ADMIN_KEY, **kwargs) if full
             else fleet_coordinator(config, admin_key=ADMIN_KEY, **kwargs))
    await coord.start()
    return coord


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def harness(tmp_path: Path, clock: Clock) -> AsyncIterator[Harness]:
    coord = await start_coordinator(tmp_path / "coord", clock)
    channel = grpc.aio.insecure_channel(coord.grpc_target)
    async with aiohttp.ClientSession() as http:
        try:
            yield Harness(coord, channel, pb_grpc.FleetStub(channel), http)
        finally:
            await channel.close()
            await coord.stop(grace_s=1.0)
