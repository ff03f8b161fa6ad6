"""`make smoke`: bring up a whole local deployment and run the acceptance checklist against it.

The deployment: a coordinator, two fake OpenAI-compatible providers (real HTTP servers,
`shareai.testing.fake_provider`), and one real node on the bundled model, enrolled through a token
like any machine. Then `shareai-coordinator smoke` runs the five checks and its exit code is ours.
State goes to a temporary folder (or `--data DIR`, kept), everything is stopped at the end.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from shareai.agent.bundled import BUNDLED_MODEL_NAME
from shareai.devstack import FakeProviderSpec, LocalStack, StackError, command

# Provider A is the cheapest route, so unpinned traffic goes there first and failover is visible.
PROVIDERS = [FakeProviderSpec("provider-a", 0.05, 0.20), FakeProviderSpec("provider-b", 0.10, 0.40)]
NODE_PRICE = (0.08, 0.30)  # what the machine owner advertises (USD per 1M tokens)


def run(data: Path, *, quiet: bool) -> int:
    with LocalStack(data, providers=PROVIDERS, quiet=quiet) as stack:
        print(f"starting coordinator {stack.url}, {', '.join(p.name for p in PROVIDERS)} and a node...", flush=True)
        stack.start_coordinator()
        api_key = stack.create_org_key("default")
        stack.enroll_and_run_node(org="default", price=NODE_PRICE)
        node = stack.wait_node_online()
        print(f"node {node.get('name')} ({node.get('id')}) online; running the checklist", flush=True)
        result = subprocess.run(
            [command("shareai-coordinator"), "smoke", "--url", stack.url, "--api-key", api_key,
             "--admin-key", stack.admin_key, "--model", BUNDLED_MODEL_NAME],
            env=stack.env, timeout=600,
        )
        stack.check_alive()
        return result.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="keep the deployment's state here (default: a temp folder)")
    parser.add_argument("--quiet", action="store_true", help="send the services' logs to files in the data dir")
    args = parser.parse_args(argv)
    try:
        if args.data is not None:
            return run(args.data, quiet=args.quiet)
        with tempfile.TemporaryDirectory(prefix="shareai-smoke-") as tmp:
            return run(Path(tmp), quiet=args.quiet)
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
