"""The hardware facts an agent reports: the one-off `HardwareReport` (Register's `HostInfo`) and
the live `GpuSample` (a heartbeat's `GpuLoad`). Plain data; `detect.py` and `sampler.py` fill them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from shareai.proto.fleet.v1 import fleet_pb2


@dataclass(frozen=True, slots=True)
class GpuInfo:
    """One GPU as NVML reports it. Fields a device does not support (power on some boards) are None."""

    index: int
    name: str
    uuid: str
    pci_bus_id: str | None
    memory_total_bytes: int
    memory_used_bytes: int
    utilization_pct: float | None
    memory_utilization_pct: float | None
    temperature_c: float | None
    power_w: float | None
    power_limit_w: float | None
    compute_capability: str | None  # "9.0"

    def to_proto(self) -> fleet_pb2.GpuInfo:
        return fleet_pb2.GpuInfo(
            index=self.index, name=self.name, uuid=self.uuid,
            memory_total_bytes=self.memory_total_bytes, memory_used_bytes=self.memory_used_bytes,
            utilization_pct=self.utilization_pct or 0.0, temperature_c=self.temperature_c or 0.0,
            power_w=self.power_w or 0.0, power_limit_w=self.power_limit_w or 0.0,
            compute_capability=self.compute_capability or "",
        )


@dataclass(frozen=True, slots=True)
class CpuInfo:
    model: str
    cores_physical: int | None  # psutil cannot tell on some platforms
    cores_logical: int | None


@dataclass(frozen=True, slots=True)
class DiskInfo:
    path: str
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True, slots=True)
class HardwareReport:
    """Everything `detect()` found. `gpus` is empty exactly when `gpu_status` says why."""

    hostname: str
    os: str
    arch: str
    cpu: CpuInfo
    ram_total_bytes: int
    ram_available_bytes: int
    disk: DiskInfo | None
    gpus: tuple[GpuInfo, ...] = ()
    gpu_status: str = ""  # empty when GPUs are listed; otherwise the reason there are none
    driver_version: str | None = None
    cuda_version: str | None = None  # highest CUDA version the driver supports, "13.0"
    nvml_version: str | None = None
    gpu_warnings: tuple[str, ...] = field(default=())  # GPUs NVML listed but could not read

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_proto(self, agent_version: str = "") -> fleet_pb2.HostInfo:
        """The `HostInfo` an agent sends in Register."""
        return fleet_pb2.HostInfo(
            hostname=self.hostname, os=self.os, arch=self.arch, cpu_model=self.cpu.model,
            cpu_cores_physical=self.cpu.cores_physical or 0, cpu_cores_logical=self.cpu.cores_logical or 0,
            ram_total_bytes=self.ram_total_bytes,
            disk_total_bytes=self.disk.total_bytes if self.disk else 0,
            disk_free_bytes=self.disk.free_bytes if self.disk else 0,
            gpus=[g.to_proto() for g in self.gpus],
            driver_version=self.driver_version or "", cuda_version=self.cuda_version or "",
            gpu_status=self.gpu_status, agent_version=agent_version,
        )


@dataclass(frozen=True, slots=True)
class GpuSample:
    """Live load of one GPU, for heartbeats."""

    index: int
    uuid: str
    utilization_pct: float | None
    memory_used_bytes: int
    memory_total_bytes: int
    power_w: float | None
    temperature_c: float | None

    def to_proto(self) -> fleet_pb2.GpuLoad:
        return fleet_pb2.GpuLoad(
            uuid=self.uuid, utilization_pct=self.utilization_pct or 0.0,
            memory_used_bytes=self.memory_used_bytes, memory_total_bytes=self.memory_total_bytes,
            power_w=self.power_w or 0.0, temperature_c=self.temperature_c or 0.0,
        )
