"""The one-line commands the "Enroll a machine" dialog shows, with the new token filled in.

    EnrollCommands(config, host).commands(request, token)
    -> {"linux": "curl -fsSL https://coord/install.sh | sudo sh -s -- --token enr_...", "macos": ...,
        "windows": ..., "docker": ..., "agent": "shareai-agent enroll --coordinator coord:50051 --token enr_..."}

Addresses come from `install_routes.advertised_addresses` (the same ones the served install scripts
embed: `[server] public_url` / `public_grpc`, else the Host the browser used), so what the page shows
and what the scripts do agree. The token is URL-safe base64 and the addresses are validated there, so
nothing here can break out of the shell quoting.
"""

from __future__ import annotations

import re

from aiohttp import web

from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.install_routes import advertised_addresses
from shareai.coordinator.interfaces import Host

_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")
DOCKER_IMAGE = "shareai-agent"  # built from installers/docker/Dockerfile.agent


class EnrollCommands:
    def __init__(self, config: CoordinatorConfig, host: Host) -> None:
        self._config = config
        self._host = host

    def commands(self, request: web.Request, token: str) -> dict[str, str]:
        if not _TOKEN.match(token):
            raise RuntimeError("refusing to put a token with unexpected characters into a command")
        cfg = self._config
        a = advertised_addresses(public_url=cfg.public_url, host_header=request.host, scheme=request.scheme,
                                 grpc_port=self._host.grpc_port, public_grpc=cfg.public_grpc, tls=cfg.tls)
        tls = " --tls" if a.tls else ""
        docker_tls = " -e SHAREAI_TLS=1" if a.tls else ""
        return {
            "linux": f"curl -fsSL {a.url}/install.sh | sudo sh -s -- --token {token}",
            "macos": f"curl -fsSL {a.url}/install.sh | sh -s -- --token {token}",
            "windows": f"& ([scriptblock]::Create((irm {a.url}/install.ps1))) -Token {token}",
            "docker": (f"docker run -d --name shareai-agent --restart unless-stopped"
                       f" -e SHAREAI_COORDINATOR={a.coordinator} -e SHAREAI_TOKEN={token}{docker_tls}"
                       f" -v shareai-agent:/var/lib/shareai {DOCKER_IMAGE}"),
            "agent": f"shareai-agent enroll --coordinator {a.coordinator}{tls} --token {token}",
        }
