"""`shareai-agent detect`: the hardware report as aligned text, or as JSON."""

from __future__ import annotations

import os

import typer

from shareai.agent.hardware.detect import detect
from shareai.agent.hardware.facts import HardwareReport


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
