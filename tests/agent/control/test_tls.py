"""Agents against a TLS coordinator: enroll, register and heartbeat with `--tls --tls-ca`; a
plaintext agent (or one that does not trust the certificate) gets a one-line reason, not "Socket
closed"."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl
import sys
from pathlib import Path

import aiohttp
import pytest

from shareai.agent.control.enroll import EnrollmentFailed, enroll
from tests.agent.control.conftest import fleet_of, make_agent, new_token, until
from tests.coordinator.fleet.conftest import ADMIN_KEY, self_signed_cert, start_coordinator


async def test_agent_enrolls_registers_and_heartbeats_over_tls(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path / "tls")
    coord = await start_coordinator(tmp_path / "coord", interval_s=1.0, patience=3, tls=(cert, key))
    try:
        token = await new_token(coord)
        with pytest.raises(EnrollmentFailed) as err:
            await enroll(coord.grpc_target, token, data_dir=tmp_path / "plain")
        assert err.value.exit_code == 1 and "it may serve TLS (use --tls" in str(err.value)
        with pytest.raises(EnrollmentFailed) as err:
            await enroll(coord.grpc_target, token, data_dir=tmp_path / "untrusted", tls=True)
        assert err.value.exit_code == 1 and "certificate is not trusted (pass its CA with --tls-ca)" in str(err.value)
        ident = await enroll(coord.grpc_target, token, data_dir=tmp_path / "agent", tls=True, ca_file=cert)
        agent = make_agent(ident, tls=True, tls_ca=cert)
        await agent.start()
        try:
            directory = coord.fleet.directory
            await until(lambda: directory.routes_for("m1", None), timeout_s=20.0, what="registration over TLS")
            fleet = fleet_of(coord)
            await until(lambda: fleet.registry.get(ident.node_id).last_hb is not None,  # type: ignore[union-attr]
                        timeout_s=20.0, what="a heartbeat over TLS")
        finally:
            await agent.stop()
        assert fleet.registry.get(ident.node_id) is None  # Deregister went over TLS too
    finally:
        await coord.stop(grace_s=1.0)


async def _cli(module: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SHAREAI_ADMIN_KEY": ADMIN_KEY})


async def test_serve_with_tls_flags_and_agent_cli_with_tls(tmp_path: Path) -> None:
    """`shareai-coordinator serve --tls-cert --tls-key` (full coordinator, governance included) and
    `shareai-agent enroll --tls --tls-ca` as real processes."""
    cert, key = self_signed_cert(tmp_path / "tls")
    serve = await _cli("shareai.coordinator.cli", "serve", "--data-dir", str(tmp_path / "coord"), "--http-port", "0",
                       "--grpc-port", "0", "--tls-cert", str(cert), "--tls-key", str(key), "--log-level", "warning")
    try:
        assert serve.stderr is not None
        line = ""
        while "shareai coordinator:" not in line:
            raw = await asyncio.wait_for(serve.stderr.readline(), 60)
            assert raw, "the coordinator exited before it was up"
            line = raw.decode()
        m = re.search(r"http (\S+)\s+grpc (\S+) \(TLS\)", line)
        assert m is not None, line
        url, target = m.group(1), m.group(2)
        assert url.startswith("https://")  # the HTTP API is on the same certificate
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                                         connector=aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=cert)),
                                         timeout=aiohttp.ClientTimeout(total=30)) as http:
            async with http.post(url + "/admin/v1/orgs", json={"name": "acme"}) as resp:
                assert resp.status in (200, 201), await resp.text()
            async with http.post(url + "/admin/v1/tokens", json={"org": "acme", "uses": 2}) as resp:
                assert resp.status == 201, await resp.text()
                token = (await resp.json())["token"]
        plain = await _cli("shareai.agent.cli", "enroll", "--token", token, "--coordinator", target,
                           "--data-dir", str(tmp_path / "plain"))
        _, err = await asyncio.wait_for(plain.communicate(), 60)
        assert plain.returncode == 1 and "it may serve TLS" in err.decode(), err.decode()
        agent = await _cli("shareai.agent.cli", "enroll", "--token", token, "--coordinator", target,
                           "--data-dir", str(tmp_path / "agent"), "--tls", "--tls-ca", str(cert))
        out, err = await asyncio.wait_for(agent.communicate(), 60)
        assert agent.returncode == 0, err.decode()
        assert "enrolled as node_" in out.decode() and "in org acme" in out.decode()
    finally:
        if serve.returncode is None:
            serve.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(serve.wait(), 30) == 0
