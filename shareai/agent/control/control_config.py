"""The `[control]` table of the agent config: how the node joins its coordinator.

    [control]
    coordinator = "coord.example.com:50051"  # default: the one the node enrolled with
    advertise_url = "http://10.0.0.5:8000/v1" # what the coordinator calls; default http://127.0.0.1:<port>/v1
    price_input_per_mtok = 0.05               # USD per 1M tokens; unset: the coordinator's [nodes] price
    price_output_per_mtok = 0.10
    availability = "idle"                     # always-on | idle
    idle_cpu = 20.0                           # other processes' CPU % below which the machine is idle
    idle_gpu = 10.0                           # ... and GPU %
    idle_hold = 120.0                         # seconds idle before serving
    window = "22:00-07:00"                    # optional daily window (local time)
    grace = 30.0                              # seconds in-flight work may finish after turning away
    tls = false
    tls_ca = "/etc/shareai/ca.pem"
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shareai.agent.control.availability import MODES, Window

CONTROL_KEYS = frozenset({
    "coordinator", "advertise_url", "price_input_per_mtok", "price_output_per_mtok", "availability", "idle_cpu",
    "idle_gpu", "idle_hold", "window", "grace", "tls", "tls_ca",
})


class ControlConfigError(ValueError):
    """An invalid `[control]` value; the message names the key."""


@dataclass(slots=True)
class ControlConfig:
    coordinator: str | None = None
    advertise_url: str | None = None
    price_input_per_mtok: float | None = None
    price_output_per_mtok: float | None = None
    availability: str = "always-on"
    idle_cpu: float = 20.0
    idle_gpu: float = 10.0
    idle_hold_s: float = 120.0
    window: str | None = None
    grace_s: float = 30.0
    tls: bool = False
    tls_ca: Path | None = None

    def validate(self) -> ControlConfig:
        if self.availability not in MODES:
            raise ControlConfigError(f"control.availability must be one of {', '.join(MODES)}, "
                                     f"got {self.availability!r}")
        for key in ("idle_cpu", "idle_gpu"):
            value = getattr(self, key)
            if not 0 < value <= 100:
                raise ControlConfigError(f"control.{key} must be in (0, 100], got {value}")
        if self.idle_hold_s < 0 or self.grace_s < 0:
            raise ControlConfigError("control.idle_hold and control.grace must be >= 0")
        for key in ("price_input_per_mtok", "price_output_per_mtok"):
            value = getattr(self, key)
            if value is not None and value < 0:
                raise ControlConfigError(f"control.{key} must be >= 0, got {value}")
        if (self.price_input_per_mtok is None) != (self.price_output_per_mtok is None):
            raise ControlConfigError("give both price_input_per_mtok and price_output_per_mtok, or neither")
        if self.advertise_url is not None and not self.advertise_url.startswith(("http://", "https://")):
            raise ControlConfigError(f"control.advertise_url must be an http(s) URL, got {self.advertise_url!r}")
        if self.window is not None:
            try:
                Window.parse(self.window)
            except ValueError as exc:
                raise ControlConfigError(f"control.window: {exc}") from None
        return self

    def parsed_window(self) -> Window | None:
        return Window.parse(self.window) if self.window else None


def _num(table: dict[str, Any], key: str, default: float | None) -> float | None:
    if key not in table:
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ControlConfigError(f"control.{key} must be a number, got {type(value).__name__}")
    return float(value)


def _str(table: dict[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise ControlConfigError(f"control.{key} must be a string, got {type(value).__name__}")
    return value or None


def parse_control(table: Any) -> ControlConfig:
    if not isinstance(table, dict):
        raise ControlConfigError("[control] must be a table")
    unknown = sorted(set(table) - CONTROL_KEYS)
    if unknown:
        raise ControlConfigError(f"control: unknown key(s) {unknown}")
    tls = table.get("tls", False)
    if not isinstance(tls, bool):
        raise ControlConfigError("control.tls must be true or false")
    ca = _str(table, "tls_ca")
    cfg = ControlConfig(
        coordinator=_str(table, "coordinator"),
        advertise_url=_str(table, "advertise_url"),
        price_input_per_mtok=_num(table, "price_input_per_mtok", None),
        price_output_per_mtok=_num(table, "price_output_per_mtok", None),
        availability=_str(table, "availability") or "always-on",
        idle_cpu=_num(table, "idle_cpu", 20.0) or 0.0,
        idle_gpu=_num(table, "idle_gpu", 10.0) or 0.0,
        idle_hold_s=_num(table, "idle_hold", 120.0) or 0.0,
        window=_str(table, "window"),
        grace_s=_num(table, "grace", 30.0) or 0.0,
        tls=tls,
        tls_ca=Path(ca).expanduser() if ca else None,
    )
    return cfg
