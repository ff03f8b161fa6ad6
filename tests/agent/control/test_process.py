"""`shareai-agent enroll` and `run` as real processes: a SIGKILLed agent goes offline within patience,
and a SIGTERMed one deregisters at once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from shareai.coordinator.app import Coordinator
from shareai.coordinator.fleet.liveness import offline_after_s
from tests.agent.control.conftest import fleet_of, new_token, until
from tests.coordinator.fleet.conftest import start_coordinator

INTERVAL_S, PATIENCE = 0.5, 3


async def _cli(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shareai.agent.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, **(env or {})})


async def _enroll(coord: Coordinator, data_dir: Path, token: str) -> tuple[int, str, str]:
    proc = await _cli("enroll", "--token", token, "--coordinator", coord.grpc_target, "--name", "proc-node",
                      "--data-dir", str(data_dir))
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_enroll_then_run_sigkill_goes_offline_within_patience(tmp_path: Path) -> None:
    coord = await start_coordinator(tmp_path / "coord", interval_s=INTERVAL_S, patience=PATIENCE)
    config = tmp_path / "agent.toml"
    config.write_text('[agent]\nport = 0\n\n[[models]]\nname = "m1"\nbackend = "fake"\n')
    proc = None
    try:
        token = await new_token(coord)
        code, out, err = await _enroll(coord, tmp_path / "agent", token)
        assert code == 0, err
        assert "enrolled as node_" in out
        code, _, err = await _enroll(coord, tmp_path / "again", token)
        assert code == 2 and err.strip() == "error: enrollment refused: enrollment token has already been used"

        proc = await _cli("run", "--config", str(config), "--data-dir", str(tmp_path / "agent"),
                          "--log-level", "warning")
        fleet = fleet_of(coord)
        directory = coord.fleet.directory
        await until(lambda: directory.routes_for("m1", None), timeout_s=30.0, what="the agent process to register")
        (route,) = directory.routes_for("m1", None)
        node_id = route.node_id
        record = fleet.store.require(node_id)
        node = fleet.registry.get(node_id)
        assert node is not None
        # Kill right after a heartbeat is handled, in the same loop tick: the next one is at least
        # 0.8 x interval away, so none can be in flight and `last` is the node's final heartbeat.
        before = node.last_hb
        await until(lambda: node.last_hb is not before, what="a heartbeat")
        last = node.last_seen
        proc.send_signal(signal.SIGKILL)
        killed_at = time.time()
        await proc.wait()
        assert last <= killed_at
        # Liveness is arithmetic on the coordinator's clock: offline exactly patience x interval after
        # that last heartbeat (so within patience of the kill), out of routing from that instant, and
        # never before. The polls below only wait for it (generous deadlines for a loaded machine).
        deadline = offline_after_s(INTERVAL_S, PATIENCE)
        assert fleet.registry.status(record, last + deadline).value == "online"
        assert fleet.registry.status(record, last + deadline + 1e-3).value == "offline"
        await until(lambda: fleet.registry.status(record, coord.clock()).value == "offline", timeout_s=30.0,
                    what="offline")
        assert not directory.routes_for("m1", None)
        await until(lambda: not node.alive, timeout_s=30.0, what="the sweep")
        assert node.last_seen == last  # nothing was heard from the killed process
        events = await coord.audit.list(action_prefix="node.offline")
        assert [e.target for e in events] == [f"node:{node_id}"] and events[0].actor == "coordinator"
        assert events[0].details["last_seen"] == last and events[0].details["silent_s"] > deadline

        # Its own restart keeps the node id; SIGTERM deregisters at once.
        proc = await _cli("run", "--config", str(config), "--data-dir", str(tmp_path / "agent"),
                          "--log-level", "warning")
        await until(lambda: directory.routes_for("m1", None), timeout_s=30.0, what="the restarted agent")
        assert directory.routes_for("m1", None)[0].node_id == node_id
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        assert fleet.registry.get(node_id) is None  # deregistered, not merely silent
        proc = None
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        await coord.stop(grace_s=0.5)


async def test_run_without_identity_is_a_one_line_error(tmp_path: Path) -> None:
    proc = await _cli("run", "--data-dir", str(tmp_path / "empty"))
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert err.decode().count("\n") == 1 and "not enrolled" in err.decode()
