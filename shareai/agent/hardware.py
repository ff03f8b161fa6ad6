"""What this machine has: NVIDIA GPUs through NVML, CPU, RAM and disk through psutil.

    report = detect()                 # once at start: goes into Register (HostInfo)
    print(format_report(report))      # `shareai-agent detect`
    with GpuSampler() as sampler:     # every heartbeat: live GPU load, NVML kept initialised
        loads = sampler.sample()

NVML is injected (`nvml=`): the default is the real `pynvml` module of nvidia-ml-py, imported
lazily so that a coordinator-only install never needs it; tests pass a fake that replays a real
reading. A machine without the library, without a loaded driver, without a GPU, or with a broken
one still gets a report: CPU only, and `gpu_status` says why no GPU is listed. Detection never
raises for an NVML problem; an initialised NVML is always shut down again.
"""

from __future__ import annotations

import importlib
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import typer

from shareai.proto.fleet.v1 import fleet_pb2

# NVML return codes (nvml.h); read from the module when it has them, these are the fallbacks.
_ERR_NO_PERMISSION = 4
_ERR_DRIVER_NOT_LOADED = 9
_ERR_LIBRARY_NOT_FOUND = 12
_TEMPERATURE_GPU = 0


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


class NvmlUnavailable(Exception):
    """NVML cannot be used on this machine; the message is the user-facing reason."""


# ---------------------------------------------------------------------------------------------
# NVML plumbing


def _load_nvml(nvml: Any | None) -> Any:
    if nvml is not None:
        return nvml
    try:
        return importlib.import_module("pynvml")
    except ImportError:
        raise NvmlUnavailable(
            "NVML bindings not installed (nvidia-ml-py; pip install 'shareai[agent]')"
        ) from None


def _reason(nvml: Any, exc: BaseException) -> str:
    """A sentence a machine owner understands, for an NVMLError raised by init or a query."""
    value = getattr(exc, "value", None)
    if value == getattr(nvml, "NVML_ERROR_LIBRARY_NOT_FOUND", _ERR_LIBRARY_NOT_FOUND):
        return "NVML library not found (libnvidia-ml): no NVIDIA driver installed"
    if value == getattr(nvml, "NVML_ERROR_DRIVER_NOT_LOADED", _ERR_DRIVER_NOT_LOADED):
        return "NVIDIA driver not loaded"
    if value == getattr(nvml, "NVML_ERROR_NO_PERMISSION", _ERR_NO_PERMISSION):
        return "no permission to query NVML"
    return f"NVML error: {_error_text(exc)}"


def _error_text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # pynvml's __str__ calls into the library, which may be what is broken
        text = ""
    return text or type(exc).__name__


def _init(nvml: Any) -> None:
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        raise NvmlUnavailable(_reason(nvml, exc)) from None


def _shutdown(nvml: Any) -> None:
    try:
        nvml.nvmlShutdown()
    except nvml.NVMLError:
        pass  # nothing left to release; the report is already made


@contextmanager
def _nvml_session(nvml: Any) -> Iterator[Any]:
    """nvmlInit ... nvmlShutdown, whatever happens between them."""
    _init(nvml)
    try:
        yield nvml
    finally:
        _shutdown(nvml)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _optional(nvml: Any, fn_name: str, *args: Any) -> Any:
    """A query some devices or drivers do not support (NotSupported, FunctionNotFound): None then."""
    fn = getattr(nvml, fn_name, None)
    if fn is None:
        return None
    try:
        return fn(*args)
    except nvml.NVMLError:
        return None


def _milliwatts(value: Any) -> float | None:
    return None if value is None else float(value) / 1000.0


def _cuda_version(raw: Any) -> str | None:
    if not isinstance(raw, int) or raw <= 0:
        return None
    return f"{raw // 1000}.{(raw % 1000) // 10}"


def _read_gpu(nvml: Any, index: int) -> GpuInfo:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    mem = nvml.nvmlDeviceGetMemoryInfo(handle)
    util = _optional(nvml, "nvmlDeviceGetUtilizationRates", handle)
    temp = _optional(nvml, "nvmlDeviceGetTemperature", handle, getattr(nvml, "NVML_TEMPERATURE_GPU", _TEMPERATURE_GPU))
    limit = _optional(nvml, "nvmlDeviceGetEnforcedPowerLimit", handle)
    if limit is None:
        limit = _optional(nvml, "nvmlDeviceGetPowerManagementLimit", handle)
    cc = _optional(nvml, "nvmlDeviceGetCudaComputeCapability", handle)
    pci = _optional(nvml, "nvmlDeviceGetPciInfo", handle)
    return GpuInfo(
        index=index,
        name=_text(nvml.nvmlDeviceGetName(handle)),
        uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
        pci_bus_id=_text(pci.busId) if pci is not None else None,
        memory_total_bytes=int(mem.total),
        memory_used_bytes=int(mem.used),
        utilization_pct=float(util.gpu) if util is not None else None,
        memory_utilization_pct=float(util.memory) if util is not None else None,
        temperature_c=float(temp) if temp is not None else None,
        power_w=_milliwatts(_optional(nvml, "nvmlDeviceGetPowerUsage", handle)),
        power_limit_w=_milliwatts(limit),
        compute_capability=f"{cc[0]}.{cc[1]}" if cc is not None else None,
    )


@dataclass(frozen=True, slots=True)
class _GpuFindings:
    gpus: tuple[GpuInfo, ...] = ()
    status: str = ""
    driver: str | None = None
    cuda: str | None = None
    nvml_version: str | None = None
    warnings: tuple[str, ...] = ()


def _detect_gpus(nvml: Any | None) -> _GpuFindings:
    try:
        lib = _load_nvml(nvml)
        with _nvml_session(lib):
            try:
                driver = _text(lib.nvmlSystemGetDriverVersion())
                count = int(lib.nvmlDeviceGetCount())
            except lib.NVMLError as exc:
                return _GpuFindings(status=_reason(lib, exc))
            cuda = _cuda_version(_optional(lib, "nvmlSystemGetCudaDriverVersion"))
            version = _optional(lib, "nvmlSystemGetNVMLVersion")
            nvml_version = _text(version) if version is not None else None
            gpus: list[GpuInfo] = []
            warnings: list[str] = []
            for i in range(count):
                try:
                    gpus.append(_read_gpu(lib, i))
                except lib.NVMLError as exc:
                    warnings.append(f"GPU {i}: {_reason(lib, exc)}")
            if not gpus:
                status = "no NVIDIA GPU found" if count == 0 else "no GPU could be read: " + "; ".join(warnings)
            else:
                status = ""
            return _GpuFindings(tuple(gpus), status, driver, cuda, nvml_version, tuple(warnings))
    except NvmlUnavailable as exc:
        return _GpuFindings(status=str(exc))


# ---------------------------------------------------------------------------------------------
# Host facts


def _cpu_model() -> str:
    if sys.platform.startswith("linux"):
        try:
            for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model") and value.strip():
                    return value.strip()
        except OSError:
            pass
    elif sys.platform == "darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                 timeout=2.0, check=False)
            if out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    return platform.processor() or platform.machine() or "unknown"


def _disk(path: str) -> DiskInfo | None:
    try:
        usage = psutil.disk_usage(path)
    except OSError:
        return None
    return DiskInfo(path=path, total_bytes=int(usage.total), free_bytes=int(usage.free))


def detect(nvml: Any | None = None, *, disk_path: str = "/") -> HardwareReport:
    """The whole report. Never raises for a missing or broken NVIDIA stack (see `gpu_status`)."""
    found = _detect_gpus(nvml)
    vm = psutil.virtual_memory()
    return HardwareReport(
        hostname=socket.gethostname(),
        os=f"{platform.system()} {platform.release()}".strip(),
        arch=platform.machine(),
        cpu=CpuInfo(model=_cpu_model(), cores_physical=psutil.cpu_count(logical=False),
                    cores_logical=psutil.cpu_count(logical=True)),
        ram_total_bytes=int(vm.total),
        ram_available_bytes=int(vm.available),
        disk=_disk(disk_path),
        gpus=found.gpus,
        gpu_status=found.status,
        driver_version=found.driver,
        cuda_version=found.cuda,
        nvml_version=found.nvml_version,
        gpu_warnings=found.warnings,
    )


# ---------------------------------------------------------------------------------------------
# Live load for heartbeats


class GpuSampler:
    """Samples GPU load, keeping NVML initialised between samples (init can take 100s of ms
    on a driver without persistence mode; a heartbeat every few seconds should not pay it).

    Where NVML is unavailable, `sample()` returns [] and `status` says why; it does not retry.
    """

    def __init__(self, nvml: Any | None = None) -> None:
        self._given = nvml
        self._lib: Any | None = None
        self.status = ""
        self._closed = False

    def _open(self) -> Any | None:
        if self._lib is not None or self.status or self._closed:
            return self._lib
        try:
            lib = _load_nvml(self._given)
            _init(lib)
        except NvmlUnavailable as exc:
            self.status = str(exc)
            return None
        self._lib = lib
        return lib

    def sample(self) -> list[GpuSample]:
        lib = self._open()
        if lib is None:
            return []
        try:
            count = int(lib.nvmlDeviceGetCount())
        except lib.NVMLError as exc:
            self.status = _reason(lib, exc)
            return []
        samples: list[GpuSample] = []
        for i in range(count):
            try:
                handle = lib.nvmlDeviceGetHandleByIndex(i)
                mem = lib.nvmlDeviceGetMemoryInfo(handle)
                uuid = _text(lib.nvmlDeviceGetUUID(handle))
            except lib.NVMLError:
                continue  # a lost GPU drops out of the heartbeat; detect() names it
            util = _optional(lib, "nvmlDeviceGetUtilizationRates", handle)
            temp = _optional(lib, "nvmlDeviceGetTemperature", handle,
                             getattr(lib, "NVML_TEMPERATURE_GPU", _TEMPERATURE_GPU))
            samples.append(GpuSample(
                index=i, uuid=uuid,
                utilization_pct=float(util.gpu) if util is not None else None,
                memory_used_bytes=int(mem.used), memory_total_bytes=int(mem.total),
                power_w=_milliwatts(_optional(lib, "nvmlDeviceGetPowerUsage", handle)),
                temperature_c=float(temp) if temp is not None else None,
            ))
        return samples

    def close(self) -> None:
        self._closed = True
        if self._lib is not None:
            lib, self._lib = self._lib, None
            _shutdown(lib)

    def __enter__(self) -> GpuSampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sample_gpu_load(nvml: Any | None = None) -> list[GpuSample]:
    """One sample of every GPU's load (init, read, shutdown). Loops should hold a `GpuSampler`."""
    with GpuSampler(nvml) as sampler:
        return sampler.sample()


# ---------------------------------------------------------------------------------------------
# `shareai-agent detect`


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def _num(value: float | None, unit: str, fmt: str = ".0f") -> str:
    return "n/a" if value is None else f"{value:{fmt}}{unit}"


def format_report(report: HardwareReport) -> str:
    cpu = report.cpu
    cores = f"{cpu.cores_physical or '?'} physical / {cpu.cores_logical or '?'} logical cores"
    rows = [
        ("Host", f"{report.hostname} ({report.os}, {report.arch})"),
        ("CPU", f"{cpu.model}, {cores}"),
        ("RAM", f"{_gib(report.ram_total_bytes)} total, {_gib(report.ram_available_bytes)} available"),
    ]
    if report.disk is not None:
        rows.append((f"Disk {report.disk.path}",
                     f"{_gib(report.disk.total_bytes)} total, {_gib(report.disk.free_bytes)} free"))
    if report.driver_version:
        rows.append(("NVIDIA driver", f"{report.driver_version}, CUDA {report.cuda_version or 'n/a'}"))
    for g in report.gpus:
        rows.append((f"GPU {g.index}", f"{g.name}  {g.uuid}"))
        rows.append(("", f"memory {_gib(g.memory_used_bytes)} used of {_gib(g.memory_total_bytes)}, "
                         f"utilisation {_num(g.utilization_pct, '%')}, {_num(g.temperature_c, ' C')}, "
                         f"power {_num(g.power_w, ' W', '.1f')} of {_num(g.power_limit_w, ' W', '.0f')}, "
                         f"compute capability {g.compute_capability or 'n/a'}"))
    for w in report.gpu_warnings:
        rows.append(("GPU warning", w))
    if not report.gpus:
        rows.append(("GPUs", f"none: {report.gpu_status}. The agent runs models on the CPU."))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def detect_command(
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    disk_path: str = typer.Option(os.path.abspath(os.sep), "--disk-path", help="Report free space of this path."),
) -> None:
    """Show the GPUs, CPU, RAM and disk the agent sees; without a usable GPU, say why (exit 0)."""
    import json

    report = detect(disk_path=disk_path)
    if json_output:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        typer.echo(format_report(report))
