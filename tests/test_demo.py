"""README's main job: a coordinator and a node enrolled in it come up and say how to use them."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from shareai.devstack import free_port


@pytest.mark.llama
def test_main_job_brings_up_coordinator_and_enrolled_node_and_reuses_identity(tmp_path: Path) -> None:
    def run() -> str:
        ports = [str(free_port()) for _ in range(3)]
        out = subprocess.run([sys.executable, "-m", "shareai.demo", "--data", str(tmp_path), "--exit-when-ready",
                              "--http-port", ports[0], "--grpc-port", ports[1], "--node-port", ports[2]],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    first = run()
    assert "shareai is up." in first and "nodes list" in first and "serving gemma-3-270m" in first
    identity = (tmp_path / "node" / "identity.json").read_text()
    assert stat.S_IMODE((tmp_path / "node" / "identity.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "admin.key").stat().st_mode) == 0o600
    second = run()  # a second run keeps the node's identity and the org key
    assert (tmp_path / "node" / "identity.json").read_text() == identity
    key = (tmp_path / "default.api-key").read_text().strip()
    assert key.startswith("sk-") and f"Bearer {key}" in first and f"Bearer {key}" in second
