"""Fixtures of the installer tests that really install: a coordinator, and pip set up to reuse the
llama-cpp-python wheel `make setup` left in pip's cache (never a second compile of llama.cpp)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from importlib import metadata
from pathlib import Path

import pytest

from shareai.coordinator.app import Coordinator
from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import CoordinatorConfig

ADMIN_KEY = "sa-admin-installer-test"


def _cached_llama_wheel() -> Path | None:
    version = metadata.version("llama-cpp-python")
    out = subprocess.run([sys.executable, "-m", "pip", "cache", "list", "llama_cpp_python", "--format=abspath"],
                         capture_output=True, text=True, timeout=60, check=False)
    for line in out.stdout.splitlines():
        path = Path(line.strip())
        if path.name.startswith(f"llama_cpp_python-{version}-") and path.suffix == ".whl" and path.is_file():
            return path
    return None


@pytest.fixture
def pip_env(tmp_path: Path) -> dict[str, str]:
    """Environment for the installer's pip: this llama-cpp-python version, as a binary, from a local folder."""
    if shutil.which("curl") is None:
        pytest.fail("curl is needed for the documented one-liner (apt-get install -y curl)")
    wheel = _cached_llama_wheel()
    if wheel is None:
        pytest.fail("no cached llama-cpp-python wheel (`make setup` leaves one in pip's cache); this test "
                    "refuses to compile llama.cpp from source again")
    links = tmp_path / "wheels"
    links.mkdir()
    (links / wheel.name).symlink_to(wheel)
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(f"llama-cpp-python=={metadata.version('llama-cpp-python')}\n")
    return {
        **os.environ,
        "PIP_CONSTRAINT": str(constraints),
        "PIP_ONLY_BINARY": "llama-cpp-python",
        "PIP_FIND_LINKS": str(links),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
    }


@pytest.fixture
async def coord(tmp_path: Path) -> AsyncIterator[Coordinator]:
    cfg = CoordinatorConfig(http_port=0, grpc_port=0, grpc_host="127.0.0.1", data_dir=tmp_path / "coord")
    c = build_coordinator(cfg, admin_key=ADMIN_KEY)
    await c.start()
    yield c
    await c.stop()


