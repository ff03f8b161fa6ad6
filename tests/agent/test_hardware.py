"""Hardware detection, replayed from a real H100 reading through a fake NVML, and on this (GPU-less)
machine through the real pynvml and the real `shareai-agent detect` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pynvml
import pytest

from shareai.agent.hardware.detect import detect
from shareai.agent.hardware.report import format_report
from shareai.agent.hardware.sampler import GpuSampler
from tests.agent.fake_nvml import FakeNvml, fixture_path, load_fixture

REAL = load_fixture()
H100 = REAL["gpus"][0]


def test_fixture_copy_matches_the_shared_reading() -> None:
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "nvml-h100.json"
    if not shared.is_file():
        pytest.skip("../shared/fixtures is not beside this checkout")
    assert json.loads(shared.read_text()) == REAL
    assert fixture_path().parent.name == "fixtures"


def test_replays_the_h100_reading() -> None:
    nvml = FakeNvml(REAL)
    report = detect(nvml)
    assert report.gpu_status == ""
    assert report.driver_version == "580.159.04"
    assert report.cuda_version == "13.0"
    assert report.nvml_version == "13.580.159.04"
    [gpu] = report.gpus
    assert gpu.index == 0
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert gpu.uuid == H100["uuid"]
    assert gpu.pci_bus_id == "00000000:00:06.0"
    assert gpu.memory_total_bytes == 85520809984
    assert gpu.memory_used_bytes == 503316480
    assert gpu.utilization_pct == 0.0
    assert gpu.temperature_c == 34.0
    assert gpu.power_w == pytest.approx(120.701)
    assert gpu.power_limit_w == pytest.approx(700.0)
    assert gpu.compute_capability == "9.0"
    assert (nvml.inits, nvml.shutdowns) == (1, 1)


def test_host_facts_come_from_psutil(tmp_path: Path) -> None:
    report = detect(FakeNvml(REAL), disk_path=str(tmp_path))
    assert report.cpu.cores_logical == psutil.cpu_count()
    assert report.cpu.model
    assert report.ram_total_bytes == psutil.virtual_memory().total
    assert report.disk is not None and report.disk.path == str(tmp_path)
    assert 0 < report.disk.free_bytes <= report.disk.total_bytes
    assert detect(FakeNvml(REAL), disk_path=str(tmp_path / "missing")).disk is None


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "NVML library not found"),
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "NVIDIA driver not loaded"),
        (pynvml.NVML_ERROR_NO_PERMISSION, "no permission"),
        (pynvml.NVML_ERROR_UNKNOWN, "NVML error: Unknown Error"),
    ],
)
def test_init_failure_is_a_cpu_only_report_with_the_reason(code: int, reason: str) -> None:
    nvml = FakeNvml(REAL, init_error=code)
    report = detect(nvml)
    assert report.gpus == ()
    assert reason in report.gpu_status
    assert report.driver_version is None
    assert report.cpu.cores_logical  # the rest of the report is still there
    assert nvml.shutdowns == 0  # never shut down what did not start


def test_no_device() -> None:
    nvml = FakeNvml({**REAL, "gpus": []})
    report = detect(nvml)
    assert report.gpus == ()
    assert report.gpu_status == "no NVIDIA GPU found"
    assert report.driver_version == "580.159.04"
    assert nvml.shutdowns == 1


def test_error_after_init_still_shuts_nvml_down() -> None:
    nvml = FakeNvml(REAL, fail={"nvmlDeviceGetCount": pynvml.NVML_ERROR_UNKNOWN})
    report = detect(nvml)
    assert report.gpus == ()
    assert report.gpu_status == "NVML error: Unknown Error"
    assert (nvml.inits, nvml.shutdowns) == (1, 1)


def test_unsupported_fields_are_none_and_the_gpu_is_kept() -> None:
    nvml = FakeNvml(REAL, fail={
        "nvmlDeviceGetPowerUsage": pynvml.NVML_ERROR_NOT_SUPPORTED,
        "nvmlDeviceGetEnforcedPowerLimit": pynvml.NVML_ERROR_NOT_SUPPORTED,
        "nvmlDeviceGetTemperature": pynvml.NVML_ERROR_NOT_SUPPORTED,
        "nvmlSystemGetCudaDriverVersion": pynvml.NVML_ERROR_FUNCTION_NOT_FOUND,
    })
    [gpu] = detect(nvml).gpus
    assert gpu.power_w is None and gpu.temperature_c is None
    assert gpu.power_limit_w == pytest.approx(700.0)  # fell back to the management limit
    assert "n/a" in format_report(detect(nvml))


def test_a_lost_gpu_is_named_and_the_others_listed() -> None:
    second = {**H100, "index": 1, "uuid": "GPU-second"}
    nvml = FakeNvml({**REAL, "gpus": [H100, second]}, fail_gpus={0: pynvml.NVML_ERROR_GPU_IS_LOST})
    report = detect(nvml)
    assert [g.uuid for g in report.gpus] == ["GPU-second"]
    assert report.gpu_warnings == ("GPU 0: NVML error: GPU is lost",)
    assert report.gpu_status == ""
    only_lost = FakeNvml(REAL, fail_gpus={0: pynvml.NVML_ERROR_GPU_IS_LOST})
    assert detect(only_lost).gpu_status == "no GPU could be read: GPU 0: NVML error: GPU is lost"


def test_report_converts_to_register_host_info() -> None:
    info = detect(FakeNvml(REAL)).to_proto(agent_version="0.1.0")
    assert info.gpus[0].uuid == H100["uuid"]
    assert info.gpus[0].power_limit_w == pytest.approx(700.0)
    assert info.cuda_version == "13.0" and info.gpu_status == "" and info.agent_version == "0.1.0"
    cpu_only = detect(FakeNvml(REAL, init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED)).to_proto()
    assert cpu_only.gpu_status == "NVIDIA driver not loaded" and not cpu_only.gpus


def test_sampler_reads_gpu_load() -> None:
    nvml = FakeNvml(REAL)
    with GpuSampler(nvml) as sampler:
        [sample] = sampler.sample()
    assert sample.uuid == H100["uuid"]
    assert sample.memory_used_bytes == 503316480
    assert sample.power_w == pytest.approx(120.701)
    assert sample.to_proto().temperature_c == 34.0
    assert (nvml.inits, nvml.shutdowns) == (1, 1)
    with GpuSampler(FakeNvml(REAL, init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)) as sampler:
        assert sampler.sample() == []


def test_sampler_keeps_nvml_open_between_samples() -> None:
    nvml = FakeNvml(REAL)
    with GpuSampler(nvml) as sampler:
        for _ in range(3):
            assert len(sampler.sample()) == 1
        assert (nvml.inits, nvml.shutdowns) == (1, 0)
    assert (nvml.inits, nvml.shutdowns) == (1, 1)
    broken = GpuSampler(FakeNvml(REAL, init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED))
    assert broken.sample() == [] and broken.status == "NVIDIA driver not loaded"
    broken.close()


def test_format_report_shows_the_gpu() -> None:
    text = format_report(detect(FakeNvml(REAL)))
    assert "NVIDIA H100 80GB HBM3" in text
    assert "79.6 GiB" in text and "120.7 W of 700 W" in text and "compute capability 9.0" in text
    assert "CUDA 13.0" in text


def test_real_pynvml_on_this_machine_never_crashes() -> None:
    """With the real library: on a machine without NVIDIA's driver, CPU only and a reason."""
    report = detect()
    assert report.gpus or report.gpu_status
    if not report.gpus:
        assert "none:" in format_report(report)


def test_detect_command(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("shareai-agent")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "shareai.agent.cli"]
    out = subprocess.run([*cmd, "detect", "--json", "--disk-path", str(tmp_path)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["cpu"]["cores_logical"] == psutil.cpu_count()
    assert data["disk"]["path"] == str(tmp_path)
    assert data["gpus"] or data["gpu_status"]
    table = subprocess.run([*cmd, "detect"], capture_output=True, text=True, timeout=60, check=False)
    assert table.returncode == 0, table.stderr
    assert "CPU" in table.stdout and "RAM" in table.stdout
    if not data["gpus"]:
        assert data["gpu_status"] in table.stdout
