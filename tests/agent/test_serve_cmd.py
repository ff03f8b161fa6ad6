"""`shareai-agent serve`: in-process with a stop event, and as a real process stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import openai
import pytest

from shareai.agent.config import AgentConfig, ModelSpec
from shareai.agent.serve_cmd import run_server
from tests.agent.helpers import DEADLINE_S, client

TIMEOUT = aiohttp.ClientTimeout(total=10)


async def read_port(stream: asyncio.StreamReader) -> int:
    async with asyncio.timeout(DEADLINE_S * 3):
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError("serve exited before listening")
            m = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
            if m:
                return int(m.group(1))


async def test_run_server_serves_until_stopped(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = AgentConfig(models=[ModelSpec(path="", name="fake-m", backend="fake")], port=0).validate()
    stop = asyncio.Event()
    task = asyncio.create_task(run_server(cfg, grace_s=1.0, stop=stop))
    seen = ""
    async with asyncio.timeout(DEADLINE_S):
        while "ready: fake-m" not in seen and not task.done():
            await asyncio.sleep(0.01)
            seen += capsys.readouterr().out
    assert "listening on http://127.0.0.1:" in seen and "ready: fake-m" in seen
    stop.set()
    assert await asyncio.wait_for(task, DEADLINE_S) == 0


async def test_sigterm_stops_gracefully(tmp_path: Path) -> None:
    conf = tmp_path / "agent.toml"
    conf.write_text('[agent]\nport = 0\napi_key = "sk-x"\n[[models]]\nbackend = "fake"\nname = "fake-m"\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shareai.agent.cli", "serve", "--config", str(conf), "--grace", "2",
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        port = await read_port(proc.stdout)
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http, asyncio.timeout(DEADLINE_S):
            while True:
                async with http.get(f"http://127.0.0.1:{port}/health") as resp:
                    if resp.status == 200:
                        break
                await asyncio.sleep(0.05)
        async with client(f"http://127.0.0.1:{port}/v1", api_key="sk-x") as c:
            r = await c.chat.completions.create(model="fake-m", messages=[{"role": "user", "content": "hi"}])
            assert r.choices[0].finish_reason == "stop"
            with pytest.raises(openai.AuthenticationError):
                await c.with_options(api_key="wrong").models.list()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), DEADLINE_S) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_bad_config_exits_2_with_the_reason(tmp_path: Path) -> None:
    conf = tmp_path / "agent.toml"
    conf.write_text("[agent]\nport = -5\n")
    res = subprocess.run([sys.executable, "-m", "shareai.agent.cli", "serve", "--config", str(conf)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 2
    assert "agent.port must be 0-65535" in res.stderr
