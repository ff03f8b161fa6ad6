"""A whole local deployment as child processes, run by the real commands (`make run`, `make smoke`).

    with LocalStack(data_dir, providers=["provider-a", "provider-b"]) as stack:
        stack.start_coordinator()          # fake providers first, then `shareai-coordinator serve`
        secret = stack.create_org_key("default")
        stack.enroll_and_run_node(org="default", price=(0.08, 0.30))
        stack.wait_node_online()

Each step is what a platform team or a machine owner would type (`token create`, `enroll`, `run`),
so the stack exercises the CLI end to end. Children get SIGTERM on exit (then SIGKILL after 15 s).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from shareai.agent.bundled import BUNDLED_CHAT_FORMAT, BUNDLED_MODEL_NAME, bundled_model_path
from shareai.coordinator.admin import ADMIN_KEY_ENV, write_private


class StackError(RuntimeError):
    """A step of bringing the deployment up failed; the message says which."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command(name: str) -> str:
    """A console script of this installation (next to the running interpreter), else from PATH."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


@dataclass(frozen=True, slots=True)
class FakeProviderSpec:
    name: str
    input_per_mtok: float
    output_per_mtok: float


class LocalStack:
    def __init__(self, data_dir: Path, *, http_port: int = 0, grpc_port: int = 0, node_port: int = 0,
                 providers: list[FakeProviderSpec] | None = None, model_name: str = BUNDLED_MODEL_NAME,
                 heartbeat_interval_s: float = 2.0, quiet: bool = False) -> None:
        self.data = data_dir.resolve()
        self.http_port = http_port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.node_port = node_port or free_port()
        self.providers = providers or []
        self.model_name = model_name
        self.heartbeat_interval_s = heartbeat_interval_s
        self.quiet = quiet
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.data.mkdir(parents=True, exist_ok=True)
        key_file = self.data / "admin.key"
        if not key_file.exists():
            write_private(key_file, "sa-admin-" + secrets.token_urlsafe(32) + "\n")
        self.admin_key_file = key_file
        self.admin_key = key_file.read_text().strip()
        self.env = {**os.environ, ADMIN_KEY_ENV: self.admin_key}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    # -- processes ------------------------------------------------------------------------------

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.data / f"{name}.log", "ab")  # the child keeps its own descriptor
        out = subprocess.DEVNULL if self.quiet else None
        proc = subprocess.Popen(args, env=self.env, stdout=log if self.quiet else out,
                                stderr=log if self.quiet else None)
        log.close()
        self.procs.append((name, proc))
        return proc

    def run(self, args: list[str], timeout_s: float = 60) -> str:
        try:
            out = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise StackError(f"{' '.join(args[:3])} did not finish within {timeout_s:g}s") from None
        if out.returncode != 0:
            raise StackError(f"{' '.join(args[:3])} failed ({out.returncode}): {out.stderr.strip()[-500:]}")
        return out.stdout

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                hint = f"; see {self.data / (name + '.log')}" if self.quiet else ""
                raise StackError(f"{name} exited with code {proc.returncode}{hint}")

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- steps ----------------------------------------------------------------------------------

    def _get(self, path: str, timeout_s: float = 5) -> object:
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.admin_key}"})
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read())

    def wait_until(self, what: str, probe: object, timeout_s: float) -> None:
        assert callable(probe)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if probe():
                    return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.3)
        raise StackError(f"{what} within {timeout_s:g}s")

    def _config(self, provider_ports: dict[str, int]) -> Path:
        lines = [
            "[fleet]", f"heartbeat_interval_s = {self.heartbeat_interval_s}", "",
            "[routing]", 'default_policy = "cheapest"', "",
            "[nodes]", "input_per_mtok = 0.0", "output_per_mtok = 0.0", "",
        ]
        for p in self.providers:
            lines += [
                "[[providers]]", f'name = "{p.name}"', f'base_url = "http://127.0.0.1:{provider_ports[p.name]}/v1"',
                f'api_keys = ["key-for-{p.name}"]', "timeout_s = 30", "",
                "[[providers.models]]", f'name = "{self.model_name}"', f"input_per_mtok = {p.input_per_mtok}",
                f"output_per_mtok = {p.output_per_mtok}", "",
            ]
        path = self.data / "coordinator.toml"
        path.write_text("\n".join(lines))
        return path

    def start_coordinator(self) -> None:
        ports = {p.name: free_port() for p in self.providers}
        for p in self.providers:
            self.spawn(p.name, [sys.executable, "-m", "shareai.testing.fake_provider", "--port", str(ports[p.name]),
                                "--model", self.model_name, "--name", p.name])
        for p in self.providers:
            self.wait_until(f"{p.name} did not come up", lambda port=ports[p.name]: _get_ok(
                f"http://127.0.0.1:{port}/v1/models"), 30)
        self.spawn("coordinator", [
            command("shareai-coordinator"), "serve", "--config", str(self._config(ports)),
            "--data-dir", str(self.data / "coordinator"), "--http-port", str(self.http_port),
            "--grpc-port", str(self.grpc_port)])
        self.wait_until("the coordinator did not come up", lambda: _get_ok(self.url + "/healthz"), 60)

    def create_org_key(self, org: str) -> str:
        """An API key of `org` (created with the org on first use; kept in the data dir, 0600)."""
        key_file = self.data / f"{org}.api-key"
        orgs = self._get("/admin/v1/orgs")
        assert isinstance(orgs, dict)
        if any(o["name"] == org for o in orgs["data"]) and key_file.exists():
            return key_file.read_text().strip()
        if not any(o["name"] == org for o in orgs["data"]):
            self.run([command("shareai-coordinator"), "org", "create", org, "--url", self.url])
        out = self.run([command("shareai-coordinator"), "key", "create", "--org", org, "--name", "local",
                        "--url", self.url, "--json"])
        secret = str(json.loads(out)["secret"])
        write_private(key_file, secret + "\n")
        return secret

    def enroll_and_run_node(self, *, org: str, name: str = "local-node",
                            price: tuple[float, float] | None = None) -> None:
        node_dir = self.data / "node"
        if not (node_dir / "identity.json").exists():
            out = self.run([command("shareai-coordinator"), "token", "create", "--org", org, "--url", self.url,
                            "--json"])
            token = json.loads(out)["token"]
            self.run([command("shareai-agent"), "enroll", "--token", token, "--coordinator",
                      f"127.0.0.1:{self.grpc_port}", "--name", name, "--data-dir", str(node_dir)])
        args = [command("shareai-agent"), "run", "--data-dir", str(node_dir), "--coordinator",
                f"127.0.0.1:{self.grpc_port}", "--model", str(bundled_model_path()), "--model-name",
                self.model_name, "--chat-format", BUNDLED_CHAT_FORMAT, "--port", str(self.node_port)]
        if price is not None:
            args += ["--price-input-per-mtok", str(price[0]), "--price-output-per-mtok", str(price[1])]
        self.spawn("node", args)

    def wait_node_online(self, timeout_s: float = 120) -> dict[str, object]:
        found: dict[str, object] = {}

        def online() -> bool:
            nodes = self._get("/admin/v1/nodes")
            assert isinstance(nodes, dict)
            for node in nodes["data"]:
                if node.get("status") == "online" and node.get("models"):
                    found.update(node)
                    return True
            return False

        self.wait_until("the node did not come online", online, timeout_s)
        return found


def _get_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return bool(resp.status == 200)
