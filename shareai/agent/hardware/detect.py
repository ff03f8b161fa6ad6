"""The one-off hardware report (`detect`): GPUs through NVML, host facts through psutil. Never
raises for a missing or broken NVIDIA stack; `gpu_status` says why no GPU is listed."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from shareai.agent.hardware.facts import CpuInfo, DiskInfo, GpuInfo, HardwareReport
from shareai.agent.hardware.nvml import (
    TEMPERATURE_GPU,
    NvmlUnavailable,
    cuda_version,
    load_nvml,
    milliwatts,
    nvml_session,
    optional,
    reason,
    text,
)


def _read_gpu(nvml: Any, index: int) -> GpuInfo:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    mem = nvml.nvmlDeviceGetMemoryInfo(handle)
    util = optional(nvml, "nvmlDeviceGetUtilizationRates", handle)
    temp = optional(nvml, "nvmlDeviceGetTemperature", handle, getattr(nvml, "NVML_TEMPERATURE_GPU", TEMPERATURE_GPU))
    limit = optional(nvml, "nvmlDeviceGetEnforcedPowerLimit", handle)
    if limit is None:
        limit = optional(nvml, "nvmlDeviceGetPowerManagementLimit", handle)
    cc = optional(nvml, "nvmlDeviceGetCudaComputeCapability", handle)
    pci = optional(nvml, "nvmlDeviceGetPciInfo", handle)
    return GpuInfo(
        index=index,
        name=text(nvml.nvmlDeviceGetName(handle)),
        uuid=text(nvml.nvmlDeviceGetUUID(handle)),
        pci_bus_id=text(pci.busId) if pci is not None else None,
        memory_total_bytes=int(mem.total),
        memory_used_bytes=int(mem.used),
        utilization_pct=float(util.gpu) if util is not None else None,
        memory_utilization_pct=float(util.memory) if util is not None else None,
        temperature_c=float(temp) if temp is not None else None,
        power_w=milliwatts(optional(nvml, "nvmlDeviceGetPowerUsage", handle)),
        power_limit_w=milliwatts(limit),
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
        lib = load_nvml(nvml)
        with nvml_session(lib):
            try:
                driver = text(lib.nvmlSystemGetDriverVersion())
                count = int(lib.nvmlDeviceGetCount())
            except lib.NVMLError as exc:
                return _GpuFindings(status=reason(lib, exc))
            cuda = cuda_version(optional(lib, "nvmlSystemGetCudaDriverVersion"))
            version = optional(lib, "nvmlSystemGetNVMLVersion")
            nvml_version = text(version) if version is not None else None
            gpus: list[GpuInfo] = []
            warnings: list[str] = []
            for i in range(count):
                try:
                    gpus.append(_read_gpu(lib, i))
                except lib.NVMLError as exc:
                    warnings.append(f"GPU {i}: {reason(lib, exc)}")
            if not gpus:
                status = "no NVIDIA GPU found" if count == 0 else "no GPU could be read: " + "; ".join(warnings)
            else:
                status = ""
            return _GpuFindings(tuple(gpus), status, driver, cuda, nvml_version, tuple(warnings))
    except NvmlUnavailable as exc:
        return _GpuFindings(status=str(exc))


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
