"""A fake NVML that replays a real reading (`tests/fixtures/nvml-h100.json`) through the function
names `pynvml` exposes, and raises pynvml's own `NVMLError` subclasses for the failure cases.

    nvml = FakeNvml.from_fixture()                                   # one idle H100, as measured
    nvml = FakeNvml.from_fixture(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    nvml = FakeNvml.from_fixture(fail={"nvmlDeviceGetPowerUsage": pynvml.NVML_ERROR_NOT_SUPPORTED})

It counts init and shutdown calls, so tests can check that detection always releases NVML, and
refuses device queries outside an init/shutdown pair, as the real library does (Uninitialized).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynvml

FIXTURE_NAME = "nvml-h100.json"


def fixture_path(name: str = FIXTURE_NAME) -> Path:
    """The committed copy (tests/fixtures/) first; else the shared one CI puts beside the repo."""
    tests_dir = Path(__file__).resolve().parents[1]
    candidates = [
        tests_dir / "fixtures" / name,
        tests_dir.parent.parent / "shared" / "fixtures" / name,  # ../shared beside the repo
        tests_dir.parent / "shared" / "fixtures" / name,
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"fixture {name} not found in {[str(c) for c in candidates]}")


def load_fixture(name: str = FIXTURE_NAME) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fixture_path(name).read_text())
    return data


@dataclass(frozen=True)
class _Memory:
    total: int
    free: int
    used: int


@dataclass(frozen=True)
class _Utilization:
    gpu: int
    memory: int


@dataclass(frozen=True)
class _PciInfo:
    busId: str


@dataclass(frozen=True)
class _Handle:
    index: int


class FakeNvml:
    """Duck-types the `pynvml` module for the calls hardware detection makes."""

    NVMLError = pynvml.NVMLError
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU
    NVML_ERROR_LIBRARY_NOT_FOUND = pynvml.NVML_ERROR_LIBRARY_NOT_FOUND
    NVML_ERROR_DRIVER_NOT_LOADED = pynvml.NVML_ERROR_DRIVER_NOT_LOADED
    NVML_ERROR_NO_PERMISSION = pynvml.NVML_ERROR_NO_PERMISSION

    def __init__(self, reading: Mapping[str, Any], *, init_error: int | None = None,
                 fail: Mapping[str, int] | None = None, fail_gpus: Mapping[int, int] | None = None) -> None:
        self.reading = reading
        self.init_error = init_error
        self.fail = dict(fail or {})  # function name -> NVML error code it raises
        self.fail_gpus = dict(fail_gpus or {})  # device index -> error code its handle raises
        self.inits = 0
        self.shutdowns = 0
        self._refcount = 0

    @classmethod
    def from_fixture(cls, name: str = FIXTURE_NAME, **kwargs: Any) -> FakeNvml:
        return cls(load_fixture(name), **kwargs)

    @property
    def gpus(self) -> list[dict[str, Any]]:
        gpus: list[dict[str, Any]] = self.reading.get("gpus", [])
        return gpus

    def _check(self, fn: str) -> None:
        if self._refcount <= 0:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)
        if fn in self.fail:
            raise pynvml.NVMLError(self.fail[fn])

    def _gpu(self, fn: str, handle: _Handle) -> dict[str, Any]:
        self._check(fn)
        return self.gpus[handle.index]

    # -- library lifetime --------------------------------------------------------------------
    def nvmlInit(self) -> None:  # pynvml names, replayed as they are
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)
        self.inits += 1
        self._refcount += 1

    def nvmlShutdown(self) -> None:
        self._check("nvmlShutdown")
        self.shutdowns += 1
        self._refcount -= 1

    # -- system --------------------------------------------------------------------------------
    def nvmlSystemGetDriverVersion(self) -> str:
        self._check("nvmlSystemGetDriverVersion")
        return str(self.reading["driver"])

    def nvmlSystemGetNVMLVersion(self) -> str:
        self._check("nvmlSystemGetNVMLVersion")
        return str(self.reading["nvml_version"])

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._check("nvmlSystemGetCudaDriverVersion")
        return int(self.reading["cuda_driver_version"])

    # -- devices -------------------------------------------------------------------------------
    def nvmlDeviceGetCount(self) -> int:
        self._check("nvmlDeviceGetCount")
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        self._check("nvmlDeviceGetHandleByIndex")
        if index in self.fail_gpus:
            raise pynvml.NVMLError(self.fail_gpus[index])
        if not 0 <= index < len(self.gpus):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return _Handle(index)

    def nvmlDeviceGetName(self, handle: _Handle) -> str:
        return str(self._gpu("nvmlDeviceGetName", handle)["name"])

    def nvmlDeviceGetUUID(self, handle: _Handle) -> str:
        return str(self._gpu("nvmlDeviceGetUUID", handle)["uuid"])

    def nvmlDeviceGetPciInfo(self, handle: _Handle) -> _PciInfo:
        return _PciInfo(busId=str(self._gpu("nvmlDeviceGetPciInfo", handle)["pci_bus_id"]))

    def nvmlDeviceGetMemoryInfo(self, handle: _Handle) -> _Memory:
        m = self._gpu("nvmlDeviceGetMemoryInfo", handle)["memory"]
        return _Memory(total=int(m["total"]), free=int(m["free"]), used=int(m["used"]))

    def nvmlDeviceGetUtilizationRates(self, handle: _Handle) -> _Utilization:
        u = self._gpu("nvmlDeviceGetUtilizationRates", handle)["utilization"]
        return _Utilization(gpu=int(u["gpu"]), memory=int(u["memory"]))

    def nvmlDeviceGetTemperature(self, handle: _Handle, sensor: int) -> int:
        gpu = self._gpu("nvmlDeviceGetTemperature", handle)
        if sensor != pynvml.NVML_TEMPERATURE_GPU:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return int(gpu["temperature_c"])

    def nvmlDeviceGetPowerUsage(self, handle: _Handle) -> int:
        return int(self._gpu("nvmlDeviceGetPowerUsage", handle)["power_mw"])

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: _Handle) -> int:
        return int(self._gpu("nvmlDeviceGetEnforcedPowerLimit", handle)["power_limit_mw"])

    def nvmlDeviceGetPowerManagementLimit(self, handle: _Handle) -> int:
        return int(self._gpu("nvmlDeviceGetPowerManagementLimit", handle)["power_limit_mw"])

    def nvmlDeviceGetCudaComputeCapability(self, handle: _Handle) -> tuple[int, int]:
        major, minor = self._gpu("nvmlDeviceGetCudaComputeCapability", handle)["compute_capability"]
        return int(major), int(minor)
