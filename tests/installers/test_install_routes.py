"""The coordinator serves the install scripts with its own addresses filled in (point-and-enroll)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import shutil
import ssl
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from shareai import __version__
from shareai.coordinator.app import Coordinator
from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.install_routes import (
    PS1_MARKERS,
    SCRIPTS,
    SH_MARKERS,
    WHEEL_ROUTE,
    Addresses,
    InstallSubsystem,
    advertised_addresses,
)
from shareai.wire.errors import InvalidRequest
from tests.coordinator.fleet.conftest import self_signed_cert
from tests.coordinator.parts import install_coordinator
from tests.installers.paths import DATA

TIMEOUT = aiohttp.ClientTimeout(total=10)


@pytest.fixture
async def coord(tmp_path: Path) -> AsyncIterator[Coordinator]:
    cfg = CoordinatorConfig(http_port=0, grpc_port=0, grpc_host="127.0.0.1", data_dir=tmp_path / "coord")
    c = install_coordinator(cfg, admin_key="sa-admin-test")
    await c.start()
    yield c
    await c.stop()


async def fetch(url: str, headers: dict[str, str] | None = None, ca: Path | None = None) -> tuple[int, str, str]:
    tls = ssl.create_default_context(cafile=ca) if ca else True
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s, s.get(url, headers=headers or {}, ssl=tls) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.text()


def unfill(text: str) -> str:
    """Put the marker lines back: what is left must be the file, byte for byte."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        for marker in (*SH_MARKERS.values(), *PS1_MARKERS.values()):
            name = marker.split("=")[0]
            if line.startswith(name + "=") or line.startswith(name + " = "):
                lines[i] = marker
    return "\n".join(lines)


def test_install_is_part_of_the_composed_coordinator(tmp_path: Path) -> None:
    coord = build_coordinator(CoordinatorConfig(data_dir=tmp_path / "coord"), admin_key="sa-admin-test")
    assert isinstance(coord.parts.install, InstallSubsystem) and coord.parts.install in coord.subsystems


@pytest.mark.parametrize("route", sorted(SCRIPTS))
async def test_served_script_is_the_file_with_addresses_filled(coord: Coordinator, route: str) -> None:
    status, ctype, text = await fetch(coord.url + route)
    assert status == 200
    assert ctype == f"{SCRIPTS[route][1]}; charset=utf-8"
    assert unfill(text) == (DATA / SCRIPTS[route][0]).read_text()
    grpc = f"127.0.0.1:{coord.grpc_port}"
    if route.endswith(".ps1"):
        assert f'$ShareaiCoordinator = "{grpc}"' in text.splitlines()
        assert "$ShareaiTls = $false" in text.splitlines()  # a plaintext coordinator leaves TLS off
    elif route == "/install.sh":
        assert f'SHAREAI_URL="{coord.url}"' in text.splitlines()
    else:
        assert f'SHAREAI_COORDINATOR="{grpc}"' in text.splitlines()
        assert 'SHAREAI_TLS=""' in text.splitlines()


async def sh(script: str, *args: str) -> tuple[int, str]:
    """A shell pipeline, without blocking the event loop the coordinator lives on."""
    proc = await asyncio.create_subprocess_exec("bash", "-o", "pipefail", "-c", script, "sh", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace")


async def test_a_tls_coordinator_serves_scripts_that_default_to_tls(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is needed for the documented one-liner (apt-get install -y curl)")
    cert, key = self_signed_cert(tmp_path / "tls")
    cfg = CoordinatorConfig(http_port=0, grpc_port=0, grpc_host="127.0.0.1", data_dir=tmp_path / "coord",
                            tls_cert=cert, tls_key=key).validate()
    coord = install_coordinator(cfg, admin_key="sa-admin-test")
    await coord.start()
    try:
        for route in ("/install/ubuntu.sh", "/install/macos.sh"):
            _, _, text = await fetch(coord.url + route, ca=cert)
            assert 'SHAREAI_TLS="1"' in text.splitlines()
            assert unfill(text) == (DATA / SCRIPTS[route][0]).read_text()
        _, _, text = await fetch(coord.url + "/install.ps1", ca=cert)
        assert "$ShareaiTls = $true" in text.splitlines()
        assert unfill(text) == (DATA / "install.ps1").read_text()
        # The documented one-liner, really run (--print-unit: the unit it would install): the agent
        # service it sets up runs over TLS without being told; --no-tls still turns it off.
        # A private CA: curl (here, and inside install.sh) trusts it through CURL_CA_BUNDLE.
        one_liner = (f'export CURL_CA_BUNDLE="{cert}"; '
                     f'curl -fsSL --max-time 30 "{coord.url}/install.sh" | sh -s -- --print-unit "$@"')
        common = ["--prefix", str(tmp_path / "venv"), "--data-dir", str(tmp_path / "data")]
        rc, out = await sh(one_liner, *common)
        assert rc == 0, out
        exec_start = next(line for line in out.splitlines() if line.startswith("ExecStart="))
        assert exec_start.endswith(f'"run" "--data-dir" "{tmp_path}/data" "--tls"')
        rc, out = await sh(one_liner, *common, "--no-tls")
        assert rc == 0, out
        assert "--tls" not in out
    finally:
        await coord.stop()


async def fetch_bytes(url: str) -> tuple[int, bytes, str]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s, s.get(url) as r:
        return r.status, await r.read(), r.headers.get("Content-Type", "")


async def test_the_served_wheel_matches_the_hash_every_script_carries(coord: Coordinator) -> None:
    # A burst of first requests: the wheel is built once, and every answer names the same bytes.
    routes = ["/install/ubuntu.sh", "/install/macos.sh", "/install.ps1"] * 4
    answers = await asyncio.gather(*(fetch(coord.url + r) for r in routes))
    status, body, ctype = await fetch_bytes(coord.url + WHEEL_ROUTE)
    assert status == 200 and ctype == "application/octet-stream"
    sha = hashlib.sha256(body).hexdigest()
    name = f"shareai-{__version__}-py3-none-any.whl"
    assert WHEEL_ROUTE == f"/install/{name}"
    for route, (code, _, text) in zip(routes, answers, strict=True):
        assert code == 200
        lines = text.splitlines()
        if route.endswith(".ps1"):
            assert f'$ShareaiWheel = "{name}"' in lines and f'$ShareaiWheelSha256 = "{sha}"' in lines
            assert f'$ShareaiUrl = "{coord.url}"' in lines
        else:
            assert f'SHAREAI_WHEEL="{name}"' in lines and f'SHAREAI_WHEEL_SHA256="{sha}"' in lines
            assert f'SHAREAI_URL="{coord.url}"' in lines
    status, text_sha, _ = await fetch_bytes(coord.url + WHEEL_ROUTE + ".sha256")
    assert status == 200 and text_sha.decode() == f"{sha}  {name}\n"  # `sha256sum -c` format
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert "shareai/agent/cli.py" in zf.namelist()
    # Only this coordinator's version is served.
    status, _, _ = await fetch_bytes(coord.url + "/install/shareai-0.0.1-py3-none-any.whl")
    assert status == 404


async def test_addresses_follow_the_host_the_client_used(coord: Coordinator) -> None:
    status, _, text = await fetch(coord.url + "/install/ubuntu.sh", {"Host": "gpu-box.lan:8080"})
    assert status == 200
    assert f'SHAREAI_COORDINATOR="gpu-box.lan:{coord.grpc_port}"' in text.splitlines()
    status, _, text = await fetch(coord.url + "/install.sh", {"Host": "gpu-box.lan:8080"})
    assert 'SHAREAI_URL="http://gpu-box.lan:8080"' in text.splitlines()


async def test_a_hostile_host_header_is_refused(coord: Coordinator) -> None:
    status, _, text = await fetch(coord.url + "/install.sh", {"Host": "x$(reboot)"})
    assert status == 400
    assert "public_url" in text and "reboot" in text  # OpenAI-shaped error naming the fix


async def test_public_url_wins(coord: Coordinator) -> None:
    coord.config.public_url = "https://coord.example.com/shareai/"
    _, _, text = await fetch(coord.url + "/install.sh")
    assert 'SHAREAI_URL="https://coord.example.com/shareai"' in text.splitlines()
    _, _, text = await fetch(coord.url + "/install.ps1")
    assert f'$ShareaiCoordinator = "coord.example.com:{coord.grpc_port}"' in text.splitlines()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("10.0.0.5:8080", Addresses("http://10.0.0.5:8080", "10.0.0.5:50051")),
        ("coord", Addresses("http://coord", "coord:50051")),
        ("[::1]:8080", Addresses("http://[::1]:8080", "[::1]:50051")),
        ("[fe80::1]", Addresses("http://[fe80::1]", "[fe80::1]:50051")),
    ],
)
def test_advertised_addresses(host: str, expected: Addresses) -> None:
    assert advertised_addresses(public_url=None, host_header=host, scheme="http", grpc_port=50051) == expected


def test_tls_is_carried_with_the_addresses() -> None:
    got = advertised_addresses(public_url=None, host_header="10.0.0.5:8080", scheme="http", grpc_port=50051,
                               tls=True)
    assert got == Addresses(url="http://10.0.0.5:8080", coordinator="10.0.0.5:50051", tls=True)


def test_public_grpc_overrides_the_grpc_address() -> None:
    got = advertised_addresses(public_url=None, host_header="10.0.0.5:8080", scheme="http", grpc_port=50051,
                               public_grpc="coord.example:443")
    assert got == Addresses(url="http://10.0.0.5:8080", coordinator="coord.example:443")


@pytest.mark.parametrize("host", ["", "a b", "x;rm", "host:port", "::1", "evil`x`", "a\"b"])
def test_advertised_addresses_refuses(host: str) -> None:
    with pytest.raises(InvalidRequest):
        advertised_addresses(public_url=None, host_header=host, scheme="http", grpc_port=50051)
    with pytest.raises(InvalidRequest):
        advertised_addresses(public_url="ftp://x", host_header=None, scheme="http", grpc_port=1)


async def test_a_wheel_that_cannot_be_written_is_a_503_and_scripts_fall_back_to_source(coord: Coordinator) -> None:
    blocker = coord.config.data_dir / "agent-dist"  # a file where the wheel's folder goes: a disk-level failure
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    status, _, text = await fetch(coord.url + "/install/ubuntu.sh")
    assert status == 200 and 'SHAREAI_WHEEL=""' in text.splitlines()  # the script then asks for --source
    status, _, text = await fetch(coord.url + WHEEL_ROUTE)
    assert status == 503
    error = json.loads(text)["error"]
    assert error["code"] == "agent_wheel_unavailable" and "cannot serve its agent wheel" in error["message"]
    blocker.unlink()  # fixed: the next request builds it
    status, _, text = await fetch(coord.url + "/install/ubuntu.sh")
    assert status == 200 and any(re.fullmatch(r'SHAREAI_WHEEL_SHA256="[0-9a-f]{64}"', line)
                                 for line in text.splitlines())
    status, _, _ = await fetch(coord.url + WHEEL_ROUTE + ".sha256")
    assert status == 200
