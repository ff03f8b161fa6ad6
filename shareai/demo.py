"""The main job (`make run`): a coordinator and a local node enrolled in it, on the bundled model.

Runs the real commands a platform team and a machine owner would run, as child processes:

    shareai-coordinator serve --data-dir .data/coordinator --http-port 8080 --grpc-port 50051
    shareai-coordinator token create --org default
    shareai-agent enroll --token <token> --coordinator 127.0.0.1:50051 --data-dir .data/node
    shareai-agent run --data-dir .data/node --model bundled --port 8001

then prints how to list the nodes and call the API, and stops both on Ctrl-C / SIGTERM.
State lives in `.data/` (git-ignored); the admin key is generated once into `.data/admin.key` (0600).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from shareai.agent.bundled import BUNDLED_MODEL_NAME, bundled_model_path
from shareai.coordinator.admin import ADMIN_KEY_ENV, write_private


def _bin(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def _wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[0]} exited with code {proc.returncode}; see its output above")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not come up within {timeout_s:g}s")


def _wait_node_online(http: str, admin_key: str, timeout_s: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        req = urllib.request.Request(f"{http}/admin/v1/nodes", headers={"Authorization": f"Bearer {admin_key}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            nodes = json.loads(resp.read())
        for node in nodes.get("nodes", []):
            if node.get("status") == "online" and node.get("models"):
                return dict(node)
        time.sleep(0.5)
    raise SystemExit(f"the node did not come online within {timeout_s:g}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(".data"))
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--grpc-port", type=int, default=50051)
    parser.add_argument("--node-port", type=int, default=8001)
    parser.add_argument("--exit-when-ready", action="store_true", help="stop once the node is online (for tests)")
    args = parser.parse_args(argv)

    data: Path = args.data.resolve()
    data.mkdir(parents=True, exist_ok=True)
    key_file = data / "admin.key"
    if not key_file.exists():
        write_private(key_file, "sa-admin-" + secrets.token_urlsafe(32) + "\n")
    admin_key = key_file.read_text().strip()
    env = {**os.environ, ADMIN_KEY_ENV: admin_key}
    http = f"http://127.0.0.1:{args.http_port}"

    print("Preparing the bundled model (first run assembles it once)...", flush=True)
    model = bundled_model_path()

    procs: list[subprocess.Popen[bytes]] = []

    def stop_all(*_: object) -> None:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        coord = subprocess.Popen(
            [_bin("shareai-coordinator"), "serve", "--data-dir", str(data / "coordinator"),
             "--http-port", str(args.http_port), "--grpc-port", str(args.grpc_port)],
            env=env,
        )
        procs.append(coord)
        _wait_http(f"{http}/healthz", 30, coord)

        if not (data / "node" / "identity.json").exists():
            out = subprocess.run(
                [_bin("shareai-coordinator"), "token", "create", "--org", "default", "--url", http, "--json"],
                env=env, check=True, capture_output=True, text=True, timeout=30,
            )
            token = json.loads(out.stdout)["token"]
            subprocess.run(
                [_bin("shareai-agent"), "enroll", "--token", token, "--coordinator",
                 f"127.0.0.1:{args.grpc_port}", "--name", "local-node", "--data-dir", str(data / "node")],
                env=env, check=True, timeout=60,
            )
        agent = subprocess.Popen(
            [_bin("shareai-agent"), "run", "--data-dir", str(data / "node"), "--model", str(model),
             "--model-name", BUNDLED_MODEL_NAME, "--chat-format", "gemma", "--port", str(args.node_port)],
            env=env,
        )
        procs.append(agent)
        node = _wait_node_online(http, admin_key, 120)
        print(f"""
shareai is up.
  coordinator  {http}  (gRPC 127.0.0.1:{args.grpc_port})
  node         {node.get('name')} ({node.get('id')}) serving {BUNDLED_MODEL_NAME}

List the nodes:
  export {ADMIN_KEY_ENV}=$(cat {key_file})
  .venv/bin/shareai-coordinator nodes list

Call the OpenAI-compatible API (any OpenAI client: change base_url and the key):
  curl {http}/v1/chat/completions -H "Authorization: Bearer $(cat {key_file})" \\
       -H 'Content-Type: application/json' \\
       -d '{{"model": "{BUNDLED_MODEL_NAME}", "messages": [{{"role": "user", "content": "Hello"}}], "max_tokens": 20}}'

Ctrl-C stops both.""", flush=True)
        if args.exit_when_ready:
            return 0
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        failed = next(p for p in procs if p.poll() is not None)
        print(f"{failed.args[0]} exited with code {failed.returncode}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
