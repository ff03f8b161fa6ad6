"""`python -m bench NAME [ARGS...]`: run one benchmark; `python -m bench all`: each with its defaults.
Add an entry to BENCHES for a new one."""

from __future__ import annotations

import importlib
import sys

# name -> module with `main(argv: list[str]) -> int`
BENCHES = {
    "agent": "bench.agent_bench",
    "failover": "bench.failover_bench",
    "fleet": "bench.fleet_bench",
    "gateway": "bench.gateway_bench",
    "routing": "bench.routing_bench",
    "usage": "bench.usage_bench",
}


def main(argv: list[str]) -> int:
    if argv[:1] == ["all"]:
        results = [main([name]) for name in sorted(BENCHES)]
        return max(results)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in BENCHES:
        print(f"usage: python -m bench {{all,{','.join(sorted(BENCHES))}}} [ARGS...]", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(BENCHES[argv[0]])
    return int(module.main(argv[1:]))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
