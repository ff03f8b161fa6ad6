"""Point-and-enroll: the coordinator serves the install scripts with its own addresses filled in.

    curl -fsSL http://COORD:8080/install.sh | sudo sh -s -- --token T        # Linux, macOS
    & ([scriptblock]::Create((irm http://COORD:8080/install.ps1))) -Token T   # Windows

    GET /install.sh          dispatcher: picks the platform script by `uname`, fetches it from here
    GET /install/ubuntu.sh   systemd installer      GET /install/macos.sh   launchd installer
    GET /install.ps1         Windows installer
    GET /install/shareai-VERSION-py3-none-any.whl          the agent: this coordinator, re-packaged
    GET /install/shareai-VERSION-py3-none-any.whl.sha256   its SHA-256 (`sha256sum -c` format)

The scripts are package data (`shareai/installers_data/`), so an installed coordinator serves the
same bytes as the repository's `installers/`, except for the marker lines below. The addresses
come from `[server] public_url` when set (behind a proxy or NAT, set it), else from the `Host`
header the client used to reach us; the gRPC address is `[server] public_grpc` when set, else that
host with the bound gRPC port. Whatever
is filled in is validated first, because it lands inside a script someone pipes into a shell.
A coordinator that serves gRPC over TLS (`[server] tls_cert/tls_key`) also fills the TLS marker, so
the scripts it serves enroll and run the agent with `--tls` unless told `--no-tls`.

The agent wheel (`agent_wheel.py`) is built on the first request that needs it (a script or the
wheel), in a thread, once per process, into `DATA_DIR/agent-dist/`; its name and SHA-256 are
filled into the scripts, which download it from here and check the hash before installing. So an
agent enrolled by this coordinator runs this coordinator's version. When the wheel cannot be built
(shareai not installed as a distribution), the scripts are served without it (they then need
`--source`) and the wheel routes answer 503 with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit

import grpc
from aiohttp import web

from shareai import __version__
from shareai.coordinator.agent_wheel import AgentWheel, WheelBuildError, build_wheel, wheel_filename
from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.interfaces import Host
from shareai.coordinator.store.db import Schema
from shareai.wire.errors import InvalidRequest, OpenAIError

DATA_PACKAGE = "shareai.installers_data"

# route -> (file in DATA_PACKAGE, content type)
SCRIPTS: dict[str, tuple[str, str]] = {
    "/install.sh": ("install.sh", "text/x-shellscript"),
    "/install/ubuntu.sh": ("ubuntu.sh", "text/x-shellscript"),
    "/install/macos.sh": ("macos.sh", "text/x-shellscript"),
    "/install.ps1": ("install.ps1", "text/plain"),
}

log = logging.getLogger(__name__)

WHEEL_ROUTE = f"/install/{wheel_filename(__version__)}"
SHA256_ROUTE = f"{WHEEL_ROUTE}.sha256"

# Marker lines, exactly as they appear in the scripts, and the variable each one carries.
SH_MARKERS = {"coordinator": 'SHAREAI_COORDINATOR=""', "url": 'SHAREAI_URL=""', "tls": 'SHAREAI_TLS=""',
              "wheel": 'SHAREAI_WHEEL=""', "wheel_sha256": 'SHAREAI_WHEEL_SHA256=""'}
PS1_MARKERS = {"coordinator": '$ShareaiCoordinator = ""', "tls": "$ShareaiTls = $false", "url": '$ShareaiUrl = ""',
               "wheel": '$ShareaiWheel = ""', "wheel_sha256": '$ShareaiWheelSha256 = ""'}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_WHEEL_NAME = re.compile(r"^shareai-[0-9A-Za-z.+!_-]+-py3-none-any\.whl$")

_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])$")


class WheelUnavailable(OpenAIError):
    status = 503
    type = "service_unavailable"
    default_code = "agent_wheel_unavailable"


@dataclass(frozen=True, slots=True)
class Addresses:
    url: str  # the HTTP API, e.g. "http://coord.example:8080"
    coordinator: str  # the gRPC control plane, e.g. "coord.example:50051"
    tls: bool = False  # the control plane is served over TLS


def script_text(filename: str) -> str:
    return resources.files(DATA_PACKAGE).joinpath(filename).read_text(encoding="utf-8")


def _checked_host(host: str) -> str:
    if not _HOST.match(host):
        raise InvalidRequest(f"Cannot build install script addresses from host {host!r}; set [server] public_url.")
    return host


def advertised_addresses(*, public_url: str | None, host_header: str | None, scheme: str, grpc_port: int,
                         public_grpc: str | None = None, tls: bool = False) -> Addresses:
    """Where installed agents should reach this coordinator. Pure: the route passes what it sees."""
    if public_url:
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRequest(f"[server] public_url must be an http(s) URL, got {public_url!r}.")
        netloc = parts.netloc
        url = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
    else:
        if not host_header:
            raise InvalidRequest("The request has no Host header; set [server] public_url.")
        netloc = host_header
        url = f"{scheme}://{netloc}"
    host, sep, port = netloc.rpartition(":")
    if not sep or host.endswith(":") or "]" in port:  # no port, or a bare IPv6 literal
        host = netloc
    elif not port.isdigit():
        raise InvalidRequest(f"Invalid port in {netloc!r}.")
    host = _checked_host(host)
    if any(c in url for c in "\"'`$\\ \t\r\n"):
        raise InvalidRequest(f"Refusing to embed {url!r} in an install script.")
    # public_grpc is validated as HOST:PORT by the config (no quotes, spaces or `$` can reach a script).
    return Addresses(url=url, coordinator=public_grpc or f"{host}:{grpc_port}", tls=tls)


def render(filename: str, addresses: Addresses, wheel: AgentWheel | None = None) -> str:
    """The script with its marker lines filled in; the rest is byte-for-byte the file."""
    text = script_text(filename)
    if wheel is not None and not (_WHEEL_NAME.match(wheel.filename) and _SHA256.match(wheel.sha256)):
        raise RuntimeError(f"refusing to embed wheel {wheel.filename!r} / {wheel.sha256!r} in a script")
    if filename.endswith(".ps1"):
        fills = {PS1_MARKERS["coordinator"]: f'$ShareaiCoordinator = "{addresses.coordinator}"',
                 PS1_MARKERS["url"]: f'$ShareaiUrl = "{addresses.url}"'}
        if addresses.tls:
            fills[PS1_MARKERS["tls"]] = "$ShareaiTls = $true"
        if wheel is not None:
            fills[PS1_MARKERS["wheel"]] = f'$ShareaiWheel = "{wheel.filename}"'
            fills[PS1_MARKERS["wheel_sha256"]] = f'$ShareaiWheelSha256 = "{wheel.sha256}"'
    else:
        fills = {
            SH_MARKERS["coordinator"]: f'SHAREAI_COORDINATOR="{addresses.coordinator}"',
            SH_MARKERS["url"]: f'SHAREAI_URL="{addresses.url}"',
        }
        if addresses.tls:
            fills[SH_MARKERS["tls"]] = 'SHAREAI_TLS="1"'
        if wheel is not None:
            fills[SH_MARKERS["wheel"]] = f'SHAREAI_WHEEL="{wheel.filename}"'
            fills[SH_MARKERS["wheel_sha256"]] = f'SHAREAI_WHEEL_SHA256="{wheel.sha256}"'
    lines = text.split("\n")
    for marker, filled in fills.items():
        hits = [i for i, line in enumerate(lines) if line == marker]
        if len(hits) > 1:
            raise RuntimeError(f"{filename}: marker {marker!r} appears {len(hits)} times")
        for i in hits:
            lines[i] = filled
    return "\n".join(lines)


class InstallSubsystem:
    """Serves the install scripts and the agent wheel (no tables, no gRPC)."""

    name = "install"
    schemas: tuple[Schema, ...] = ()

    def __init__(self, config: CoordinatorConfig) -> None:
        self._config = config
        self._host: Host | None = None  # for the bound gRPC port, known only once the server is up
        self._wheel: AgentWheel | None = None
        self._wheel_error = ""
        self._unbuildable = False
        self._wheel_lock = asyncio.Lock()

    async def start(self, host: Host) -> None:
        self._host = host
        self.add_routes(host.http_app)

    def add_routes(self, app: web.Application) -> None:
        for route in SCRIPTS:
            app.router.add_get(route, self._serve)
        app.router.add_get(WHEEL_ROUTE, self._serve_wheel)
        app.router.add_get(SHA256_ROUTE, self._serve_wheel)

    def grpc_interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        return []

    def add_grpc_services(self, server: grpc.aio.Server) -> None:
        pass

    async def close(self) -> None:
        async with self._wheel_lock:  # a build in its thread finishes before the data dir may go
            self._host = None

    async def agent_wheel(self) -> AgentWheel | None:
        """The wheel of this process's shareai, built once (single-flight, off the event loop)."""
        async with self._wheel_lock:
            if self._wheel is None and not self._unbuildable and self._host is not None:
                out = self._config.data_dir / "agent-dist"
                try:
                    self._wheel = await asyncio.to_thread(build_wheel, out)
                    log.info("agent wheel %s sha256 %s", self._wheel.filename, self._wheel.sha256)
                except (WheelBuildError, OSError) as exc:
                    # Not a distribution: final. A disk error: the next request tries again.
                    self._unbuildable = isinstance(exc, WheelBuildError)
                    self._wheel_error = str(exc)
                    log.warning("cannot build the agent wheel, install scripts need --source: %s", exc)
            return self._wheel

    async def _serve_wheel(self, request: web.Request) -> web.StreamResponse:
        wheel = await self.agent_wheel()
        if wheel is None:
            raise WheelUnavailable(f"This coordinator cannot serve its agent wheel: {self._wheel_error}")
        if request.path.endswith(".sha256"):
            return web.Response(text=f"{wheel.sha256}  {wheel.filename}\n", content_type="text/plain",
                                headers={"Cache-Control": "no-store"})
        return web.FileResponse(wheel.path, headers={"Content-Type": "application/octet-stream",
                                                     "Cache-Control": "no-store"})

    async def _serve(self, request: web.Request) -> web.Response:
        assert self._host is not None
        filename, content_type = SCRIPTS[request.path]
        wheel = None if filename == "install.sh" else await self.agent_wheel()
        addresses = advertised_addresses(
            public_url=self._config.public_url,
            host_header=request.headers.get("Host"),
            scheme=request.scheme,
            grpc_port=self._host.grpc_port,
            public_grpc=self._config.public_grpc,
            tls=self._config.tls,
        )
        return web.Response(text=render(filename, addresses, wheel), content_type=content_type, charset="utf-8",
                            headers={"Cache-Control": "no-store"})
