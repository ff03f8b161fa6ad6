"""Live GPU load for heartbeats, NVML kept initialised between samples."""

from __future__ import annotations

from typing import Any

from shareai.agent.hardware.facts import GpuSample
from shareai.agent.hardware.nvml import (
    TEMPERATURE_GPU,
    NvmlUnavailable,
    init_nvml,
    load_nvml,
    milliwatts,
    optional,
    reason,
    shutdown_nvml,
    text,
)


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
            lib = load_nvml(self._given)
            init_nvml(lib)
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
            self.status = reason(lib, exc)
            return []
        samples: list[GpuSample] = []
        for i in range(count):
            try:
                handle = lib.nvmlDeviceGetHandleByIndex(i)
                mem = lib.nvmlDeviceGetMemoryInfo(handle)
                uuid = text(lib.nvmlDeviceGetUUID(handle))
            except lib.NVMLError:
                continue  # a lost GPU drops out of the heartbeat; detect() names it
            util = optional(lib, "nvmlDeviceGetUtilizationRates", handle)
            temp = optional(lib, "nvmlDeviceGetTemperature", handle,
                             getattr(lib, "NVML_TEMPERATURE_GPU", TEMPERATURE_GPU))
            samples.append(GpuSample(
                index=i, uuid=uuid,
                utilization_pct=float(util.gpu) if util is not None else None,
                memory_used_bytes=int(mem.used), memory_total_bytes=int(mem.total),
                power_w=milliwatts(optional(lib, "nvmlDeviceGetPowerUsage", handle)),
                temperature_c=float(temp) if temp is not None else None,
            ))
        return samples

    def close(self) -> None:
        self._closed = True
        if self._lib is not None:
            lib, self._lib = self._lib, None
            shutdown_nvml(lib)

    def __enter__(self) -> GpuSampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
