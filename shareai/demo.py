"""The main job (`make run`): a coordinator and a local node enrolled in it, on the bundled model.

It runs the real commands a platform team and a machine owner would run, as child processes
(see `shareai.devstack.LocalStack`):

    shareai-coordinator serve --data-dir .data/coordinator --http-port 8080 --grpc-port 50051
    shareai-coordinator org create default && shareai-coordinator key create --org default
    shareai-coordinator token create --org default
    shareai-agent enroll --token <token> --coordinator 127.0.0.1:50051 --data-dir .data/node
    shareai-agent run --data-dir .data/node --model <bundled gguf> --port 8001

then prints how to list the nodes and call the API, and stops everything on Ctrl-C / SIGTERM.
State lives in `.data/` (git-ignored; a second run reuses the node identity); the admin key is
generated once into `.data/admin.key` (0600).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from shareai.agent.bundled import BUNDLED_MODEL_NAME
from shareai.coordinator.admin import ADMIN_KEY_ENV
from shareai.devstack import LocalStack, StackError


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(".data"))
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--grpc-port", type=int, default=50051)
    parser.add_argument("--node-port", type=int, default=8001)
    parser.add_argument("--exit-when-ready", action="store_true", help="stop once the node is online (for tests)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)

    print("Preparing the bundled model (the first run assembles it once)...", flush=True)
    stack = LocalStack(args.data, http_port=args.http_port, grpc_port=args.grpc_port, node_port=args.node_port,
                       heartbeat_interval_s=5.0)
    try:
        with stack:
            stack.start_coordinator()
            api_key = stack.create_org_key("default")
            stack.enroll_and_run_node(org="default")
            node = stack.wait_node_online()
            print(f"""
shareai is up.
  coordinator  {stack.url}   (gRPC 127.0.0.1:{stack.grpc_port}, admin key in {stack.admin_key_file})
  node         {node.get('name')} ({node.get('id')}) serving {BUNDLED_MODEL_NAME} on 127.0.0.1:{stack.node_port}

List the nodes:
  export {ADMIN_KEY_ENV}=$(cat {stack.admin_key_file})
  .venv/bin/shareai-coordinator nodes list --url {stack.url}

Call the OpenAI-compatible API with the org key created for you (any OpenAI client: change base_url and key):
  curl {stack.url}/v1/chat/completions -H "Authorization: Bearer {api_key}" \\
       -H 'Content-Type: application/json' \\
       -d '{{"model": "{BUNDLED_MODEL_NAME}", "messages": [{{"role": "user", "content": "Hello"}}], "max_tokens": 20}}'

Ctrl-C stops everything.""", flush=True)
            if args.exit_when_ready:
                return 0
            while True:
                stack.check_alive()
                time.sleep(0.5)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
