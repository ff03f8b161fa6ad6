"""The HTTP API over TLS (`serve --tls-cert/--tls-key`, `[server] tls_cert/tls_key`): the OpenAI API,
the admin API, the install scripts and /metrics all speak HTTPS with the gRPC certificate; the admin
CLI trusts a private CA with `--tls-ca`; the gRPC port binds loopback unless told otherwise."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import signal
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import openai
import pytest

from shareai.coordinator.app import Coordinator
from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import CoordinatorConfig, ProviderConfig, ProviderModel, parse_config
from shareai.testing.fake_provider import FakeProvider
from tests.coordinator.fleet.conftest import self_signed_cert

ADMIN_KEY = "sa-admin-https-test-0123456789"
BOOTSTRAP_KEY = "sk-bootstrap-https-test"
TIMEOUT = aiohttp.ClientTimeout(total=30)


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


@pytest.fixture
async def fake() -> AsyncIterator[FakeProvider]:
    async with FakeProvider(model="gemma", reply="over tls") as p:
        yield p


@pytest.fixture
async def tls_coord(tmp_path: Path, fake: FakeProvider) -> AsyncIterator[tuple[Coordinator, Path]]:
    cert, key = self_signed_cert(tmp_path / "tls")
    cfg = CoordinatorConfig(
        http_host="127.0.0.1", http_port=0, grpc_port=0, data_dir=tmp_path / "coord", tls_cert=cert, tls_key=key,
        api_keys=[BOOTSTRAP_KEY],
        providers=[ProviderConfig(name="provider-a", base_url=fake.base_url, api_keys=["k"],
                                  models=[ProviderModel("gemma", "gemma")])],
    ).validate()
    coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
    await coord.start()
    try:
        yield coord, cert
    finally:
        await coord.stop(grace_s=1.0)


async def test_the_openai_sdk_gets_200_over_https_trusting_the_ca(tls_coord: tuple[Coordinator, Path]) -> None:
    coord, cert = tls_coord
    assert coord.url == f"https://127.0.0.1:{coord.http_port}"
    async with openai.AsyncOpenAI(base_url=coord.url + "/v1", api_key=BOOTSTRAP_KEY, max_retries=0,
                                  http_client=openai.DefaultAsyncHttpxClient(verify=trusting(cert))) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gemma", messages=[{"role": "user", "content": "hi"}])
        assert raw.http_request.url.scheme == "https" and raw.status_code == 200
        assert raw.parse().choices[0].message.content == "over tls"
    # A client that does not trust the certificate never gets as far as sending the key.
    async with openai.AsyncOpenAI(base_url=coord.url + "/v1", api_key=BOOTSTRAP_KEY, max_retries=0) as client:
        with pytest.raises(openai.APIConnectionError):
            await client.models.list()
    # The admin API and /metrics are on the same TLS port.
    async with aiohttp.ClientSession(timeout=TIMEOUT, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as s:
        async with s.get(coord.url + "/admin/v1/orgs", ssl=trusting(cert)) as resp:
            assert resp.status == 200
        async with s.get(coord.url + "/metrics", ssl=trusting(cert)) as resp:
            assert resp.status == 200
            assert 'route="provider-a",status="200"} 1' in await resp.text()


async def test_plain_http_to_the_tls_port_gets_no_answer(tls_coord: tuple[Coordinator, Path]) -> None:
    coord, _ = tls_coord
    plain = coord.url.replace("https://", "http://")
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
        for path in ("/healthz", "/v1/models", "/admin/v1/orgs"):
            with pytest.raises(aiohttp.ClientError):
                async with s.get(plain + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as resp:
                    pytest.fail(f"plaintext {path} got an HTTP answer: {resp.status}")


async def test_install_scripts_served_over_https_point_at_https(tls_coord: tuple[Coordinator, Path]) -> None:
    coord, cert = tls_coord
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
        async with s.get(coord.url + "/install.sh", ssl=trusting(cert)) as resp:
            assert resp.status == 200
            assert f'SHAREAI_URL="https://127.0.0.1:{coord.http_port}"' in (await resp.text()).splitlines()
        async with s.get(coord.url + "/install/ubuntu.sh", ssl=trusting(cert)) as resp:
            lines = (await resp.text()).splitlines()
    assert f'SHAREAI_COORDINATOR="127.0.0.1:{coord.grpc_port}"' in lines and 'SHAREAI_TLS="1"' in lines


async def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if k != "SHAREAI_TLS_CA"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shareai.coordinator.cli", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**base, "SHAREAI_ADMIN_KEY": ADMIN_KEY, **(env or {})})
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_admin_cli_over_https_needs_the_ca(tls_coord: tuple[Coordinator, Path], tmp_path: Path) -> None:
    coord, cert = tls_coord
    rc, out, err = await _cli("--tls-ca", str(cert), "org", "create", "acme", "--url", coord.url)
    assert rc == 0, err
    rc, out, err = await _cli("org", "list", "--json", "--url", coord.url, env={"SHAREAI_TLS_CA": str(cert)})
    assert rc == 0, err
    assert [o["name"] for o in json.loads(out)] == ["acme"]
    # Without the CA, or with another one: one clear line that says what to do, no traceback.
    other, _ = self_signed_cert(tmp_path / "other")
    for extra in ([], ["--tls-ca", str(other)]):
        rc, out, err = await _cli(*extra, "org", "list", "--url", coord.url)
        assert rc != 0 and out == ""
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert f"the TLS certificate of {coord.url} is not trusted" in err and "--tls-ca" in err, err
    # http:// to the TLS port, and a CA file that is not a certificate: also one line each.
    rc, _, err = await _cli("org", "list", "--url", coord.url.replace("https://", "http://"))
    assert rc != 0 and err.count("\n") == 1 and "cannot reach the coordinator" in err and "https://" in err, err
    rc, _, err = await _cli("--tls-ca", str(tmp_path / "missing.pem"), "org", "list", "--url", coord.url)
    assert rc != 0 and err.count("\n") == 1 and "missing.pem" in err, err


def _listening(port: int) -> set[str]:
    """Addresses with a listening TCP socket on `port`, from /proc/net/tcp{,6} (Linux)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, _, hexport = local.partition(":")
            if state != "0A" or int(hexport, 16) != port:
                continue
            # The kernel prints addresses as 32-bit words in host (little-endian) order.
            raw = b"".join(bytes(reversed(bytes.fromhex(addr[i:i + 8]))) for i in range(0, len(addr), 8))
            ip = ipaddress.ip_address(raw)
            mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
            found.add(str(mapped or ip))
    return found


async def test_grpc_binds_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    assert parse_config({}).grpc_host == "127.0.0.1"
    assert parse_config({"server": {"grpc_host": "0.0.0.0"}}).grpc_host == "0.0.0.0"
    coord = build_coordinator(CoordinatorConfig(http_port=0, grpc_port=0, data_dir=tmp_path / "coord"),
                              admin_key=ADMIN_KEY)
    await coord.start()
    try:
        assert _listening(coord.grpc_port) == {"127.0.0.1"}
        assert _listening(coord.http_port) == {"127.0.0.1"}
    finally:
        await coord.stop(grace_s=1.0)


async def test_serve_over_tls_prints_https_and_binds_grpc_where_told(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path / "tls")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shareai.coordinator.cli", "serve", "--data-dir", str(tmp_path / "coord"),
        "--http-port", "0", "--grpc-port", "0", "--grpc-host", "127.0.0.1", "--tls-cert", str(cert),
        "--tls-key", str(key), "--log-level", "warning", stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SHAREAI_ADMIN_KEY": ADMIN_KEY})
    try:
        assert proc.stderr is not None
        line = ""
        while "shareai coordinator:" not in line:
            raw = await asyncio.wait_for(proc.stderr.readline(), 60)
            assert raw, "the coordinator exited before it was up"
            line = raw.decode()
        m = re.search(r"http (https://\S+)\s+grpc 127\.0\.0\.1:(\d+) \(TLS\)", line)
        assert m is not None, line
        async with aiohttp.ClientSession(timeout=TIMEOUT) as s, s.get(m.group(1) + "/healthz",
                                                                       ssl=trusting(cert)) as resp:
            assert resp.status == 200
        assert _listening(int(m.group(2))) == {"127.0.0.1"}
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_smoke_checks_an_https_coordinator_with_its_ca(tls_coord: tuple[Coordinator, Path]) -> None:
    from shareai.coordinator.smoke import Smoke, SmokeError

    coord, cert = tls_coord
    rows = await Smoke(coord.url, BOOTSTRAP_KEY, admin_key=ADMIN_KEY, model="gemma", timeout_s=30,
                       ca_file=str(cert)).run()
    [routed] = [r for r in rows if r.check == "routes" and r.route == "provider-a"]
    assert routed.ok and routed.status == "200", routed
    with pytest.raises(SmokeError, match="cannot reach"):
        await Smoke(coord.url, BOOTSTRAP_KEY, admin_key=ADMIN_KEY, model="gemma", timeout_s=30).run()
