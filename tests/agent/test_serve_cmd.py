"""`shareai-agent serve`: in-process with a stop event, and as a real process stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import openai
import pytest

from shareai.agent.config import AgentConfig, ModelSpec
from shareai.agent.serve_cmd import run_server
from shareai.agent.slots import ModelPool, load_pools
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


async def test_health_is_503_while_models_load_then_200(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = AgentConfig(models=[ModelSpec(path="", name="fake-m", backend="fake")], port=0).validate()
    loaded = asyncio.Event()

    async def slow_load(specs: Sequence[ModelSpec]) -> list[ModelPool]:
        await loaded.wait()
        return await load_pools(specs)

    stop = asyncio.Event()
    task = asyncio.create_task(run_server(cfg, grace_s=1.0, stop=stop, load=slow_load))
    try:
        out = ""
        async with asyncio.timeout(DEADLINE_S):
            while not (m := re.search(r"http://127\.0\.0\.1:(\d+)/v1", out)):
                await asyncio.sleep(0.01)
                out += capsys.readouterr().out
        base = f"http://127.0.0.1:{m.group(1)}"
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            async with http.get(f"{base}/health") as resp:
                assert (resp.status, await resp.json()) == (503, {"status": "loading"})
            async with client(f"{base}/v1") as c:
                with pytest.raises(openai.InternalServerError) as exc:
                    await c.chat.completions.create(model="fake-m", messages=[{"role": "user", "content": "hi"}])
                assert exc.value.status_code == 503 and exc.value.code == "node_unavailable"
            loaded.set()
            async with asyncio.timeout(DEADLINE_S):
                while True:
                    async with http.get(f"{base}/health") as resp:
                        if resp.status == 200:
                            assert (await resp.json())["models"] == ["fake-m"]
                            break
                        assert resp.status == 503
                    await asyncio.sleep(0.01)
    finally:
        stop.set()
        loaded.set()
    assert await asyncio.wait_for(task, DEADLINE_S) == 0


async def serve_real_model(model_path: Path, grace_s: float) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shareai.agent.cli", "serve", "--model", str(model_path), "--model-name", "m",
        "--chat-format", "gemma", "--n-ctx", "512", "--n-gpu-layers", "0", "--port", "0", "--grace", str(grace_s),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    port = await read_port(proc.stdout)
    async with asyncio.timeout(DEADLINE_S * 3):
        while b"ready: m" not in await proc.stdout.readline():
            pass
    return proc, f"http://127.0.0.1:{port}/v1"


@pytest.mark.llama
async def test_sigterm_lets_an_in_flight_stream_finish(model_path: Path) -> None:
    proc, url = await serve_real_model(model_path, grace_s=30)
    try:
        async with client(url) as c:
            stream = await c.completions.create(model="m", prompt="1, 2, 3,", max_tokens=12, temperature=0,
                                                stream=True, stream_options={"include_usage": True})
            chunks = [await anext(aiter(stream))]
            proc.send_signal(signal.SIGTERM)
            chunks += [ch async for ch in stream]
        assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason] == [
            "length"]
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 12
        assert await asyncio.wait_for(proc.wait(), DEADLINE_S) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.llama
async def test_sigterm_ends_a_stream_with_an_error_event_after_the_grace_period(model_path: Path) -> None:
    proc, url = await serve_real_model(model_path, grace_s=0.2)
    try:
        body = {"model": "m", "prompt": "1, 2, 3,", "max_tokens": 400, "temperature": 0, "stream": True}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            async with http.post(f"{url}/completions", json=body) as resp:
                assert resp.status == 200
                await resp.content.readuntil(b"\n\n")
                proc.send_signal(signal.SIGTERM)
                rest = (await resp.read()).decode()
        assert '"code":"node_unavailable"' in rest and "[DONE]" not in rest
        assert '"finish_reason":"length"' not in rest
        assert await asyncio.wait_for(proc.wait(), DEADLINE_S) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
