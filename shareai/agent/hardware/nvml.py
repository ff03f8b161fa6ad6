"""The NVML adapter: loading the bindings, init/shutdown, and turning NVML errors into reasons a
machine owner understands. `nvml` is always injected (`None`: the real `pynvml`, imported lazily
so that a coordinator-only install never needs it)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# NVML return codes (nvml.h); read from the module when it has them, these are the fallbacks.
ERR_NO_PERMISSION = 4
ERR_DRIVER_NOT_LOADED = 9
ERR_LIBRARY_NOT_FOUND = 12
TEMPERATURE_GPU = 0


class NvmlUnavailable(Exception):
    """NVML cannot be used on this machine; the message is the user-facing reason."""


def load_nvml(nvml: Any | None) -> Any:
    if nvml is not None:
        return nvml
    try:
        return importlib.import_module("pynvml")
    except ImportError:
        raise NvmlUnavailable(
            "NVML bindings not installed (nvidia-ml-py; pip install 'shareai[agent]')"
        ) from None


def reason(nvml: Any, exc: BaseException) -> str:
    """A sentence a machine owner understands, for an NVMLError raised by init or a query."""
    value = getattr(exc, "value", None)
    if value == getattr(nvml, "NVML_ERROR_LIBRARY_NOT_FOUND", ERR_LIBRARY_NOT_FOUND):
        return "NVML library not found (libnvidia-ml): no NVIDIA driver installed"
    if value == getattr(nvml, "NVML_ERROR_DRIVER_NOT_LOADED", ERR_DRIVER_NOT_LOADED):
        return "NVIDIA driver not loaded"
    if value == getattr(nvml, "NVML_ERROR_NO_PERMISSION", ERR_NO_PERMISSION):
        return "no permission to query NVML"
    return f"NVML error: {error_text(exc)}"


def error_text(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception:  # pynvml's __str__ calls into the library, which may be what is broken
        message = ""
    return message or type(exc).__name__


def init_nvml(nvml: Any) -> None:
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        raise NvmlUnavailable(reason(nvml, exc)) from None


def shutdown_nvml(nvml: Any) -> None:
    try:
        nvml.nvmlShutdown()
    except nvml.NVMLError:
        pass  # nothing left to release; the report is already made


@contextmanager
def nvml_session(nvml: Any) -> Iterator[Any]:
    """nvmlInit ... nvmlShutdown, whatever happens between them."""
    init_nvml(nvml)
    try:
        yield nvml
    finally:
        shutdown_nvml(nvml)


def text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def optional(nvml: Any, fn_name: str, *args: Any) -> Any:
    """A query some devices or drivers do not support (NotSupported, FunctionNotFound): None then."""
    fn = getattr(nvml, fn_name, None)
    if fn is None:
        return None
    try:
        return fn(*args)
    except nvml.NVMLError:
        return None


def milliwatts(value: Any) -> float | None:
    return None if value is None else float(value) / 1000.0


def cuda_version(raw: Any) -> str | None:
    if not isinstance(raw, int) or raw <= 0:
        return None
    return f"{raw // 1000}.{(raw % 1000) // 10}"
