"""`shareai-agent enroll` takes its token from a 0600 file or the environment, so it need not be on
argv (visible to every user in `ps`); `--token` still works for a human at a terminal."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from shareai import __version__
from shareai.agent.control.enroll_token import TokenSourceError, read_enroll_token
from tests.agent.control.conftest import new_token
from tests.coordinator.fleet.conftest import start_coordinator


def _file(tmp_path: Path, text: str, mode: int) -> Path:
    path = tmp_path / "token"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_token_sources(tmp_path: Path) -> None:
    assert read_enroll_token(token=None, token_file=_file(tmp_path, "enr_abc\n", 0o600)) == "enr_abc"
    assert read_enroll_token(token=" enr_env ", token_file=None) == "enr_env"
    with pytest.raises(TokenSourceError, match=r"readable by other users .*0644.*chmod 600"):
        read_enroll_token(token=None, token_file=_file(tmp_path, "enr_abc", 0o644))
    with pytest.raises(TokenSourceError, match="readable by other users"):
        read_enroll_token(token=None, token_file=_file(tmp_path, "enr_abc", 0o640))
    with pytest.raises(TokenSourceError, match="is empty"):
        read_enroll_token(token=None, token_file=_file(tmp_path, " \n", 0o600))
    with pytest.raises(TokenSourceError, match="not both"):
        read_enroll_token(token="enr_x", token_file=_file(tmp_path, "enr_abc", 0o600))
    with pytest.raises(TokenSourceError, match="no enrollment token"):
        read_enroll_token(token=None, token_file=None)
    with pytest.raises(TokenSourceError, match="No such file"):
        read_enroll_token(token=None, token_file=tmp_path / "absent")


async def _agent(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if k != "SHAREAI_ENROLL_TOKEN"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shareai.agent.cli", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**base, **(env or {})})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_enroll_reads_the_token_from_a_private_file_or_the_environment(tmp_path: Path) -> None:
    coord = await start_coordinator(tmp_path / "coord")
    try:
        common = ["--coordinator", coord.grpc_target]
        loose = _file(tmp_path, await new_token(coord), 0o644)
        code, _, err = await _agent("enroll", "--token-file", str(loose), *common, "--data-dir", str(tmp_path / "a"))
        assert code == 2 and "readable by other users" in err
        assert not (tmp_path / "a").exists()  # refused before anything was written
        loose.chmod(0o600)
        code, out, err = await _agent("enroll", "--token-file", str(loose), *common, "--data-dir", str(tmp_path / "a"))
        assert code == 0 and "enrolled as node_" in out, err
        code, out, err = await _agent("enroll", *common, "--data-dir", str(tmp_path / "b"),
                                      env={"SHAREAI_ENROLL_TOKEN": await new_token(coord)})
        assert code == 0 and "enrolled as node_" in out, err
        code, _, err = await _agent("enroll", *common, "--data-dir", str(tmp_path / "c"))
        assert code == 2 and err.strip() == ("error: no enrollment token: pass --token-file PATH or set "
                                             "SHAREAI_ENROLL_TOKEN (--token TOKEN works too, but other users can "
                                             "see it in `ps`)")
    finally:
        await coord.stop()


@pytest.mark.parametrize("module", ["shareai.agent.cli", "shareai.coordinator.cli"])
async def test_version_option(module: str) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", module, "--version",
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    name = "shareai-agent" if "agent" in module else "shareai-coordinator"
    assert out.decode() == f"{name} {__version__}\n"
