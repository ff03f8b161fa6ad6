"""Failover benchmark: a provider killed under load; how long until requests succeed elsewhere.

    python -m bench failover                           # 16 s of load at concurrency 16, kill at 4 s
    python -m bench failover --duration 20 --kill-at 6 --concurrency 32 --json out.json

Every server is a real process: two fake OpenAI providers (`shareai.testing.fake_provider`, real
aiohttp servers) serving the same model, and a coordinator (the gateway bench's `_gateway` set-up:
fleet, governance and gateway, called through an org key with rate limits and quotas, so every
request is admitted, reserved, settled and accounted) that knows both, provider A priced below B so
the default `cheapest` policy sends everything to A. A closed-loop aiohttp client keeps
`--concurrency` requests in flight; at `--kill-at` seconds provider A's process gets SIGKILL (its
listening socket and every open connection die with it, as in a crash).

Each answer's `x-shareai-attempts` and `x-shareai-route` headers say which provider answered and
whether the request paid a failed attempt first. Reported:

- time from the kill to the first success served by B, and to the first 250 ms window whose median
  latency is back within 1.5x of the median before the kill;
- requests that paid a failed attempt (attempts > 1), and the last of them (after it, the breaker
  kept client requests off A: the breaker's "stopped trying A"); the coordinator's own
  `shareai_gateway_attempts_total` for A by outcome (failed attempts and probes) confirms it;
- errors seen by the client: any non-2xx answer or transport error (the goal is 0).

Time is CLOCK_MONOTONIC, shared by the processes of one Linux machine. The exit code is 1 when the
client saw an error or no request ever reached B.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.gateway_bench import ADMIN_KEY, BODY, MODEL, ROOT, _http, _spawn, _wait_port, make_org_key, run_coordinator

WINDOW_S = 0.25
NORMAL_FACTOR = 1.5
UPSTREAM_MODEL = "fake-model"


@dataclass(frozen=True, slots=True)
class Sample:
    """One client request: when it started and ended (monotonic s), its status, attempts and route."""

    start: float
    end: float
    status: int  # 0: transport error
    attempts: int
    route: str


def summarise(samples: list[Sample], kill_t: float, *, window_s: float = WINDOW_S,
              factor: float = NORMAL_FACTOR, victim: str = "a", survivor: str = "b") -> dict[str, Any]:
    """The figures of one run (pure: tests feed it synthetic samples)."""
    ok = [s for s in samples if 200 <= s.status < 300]
    before = [s for s in ok if s.end <= kill_t]
    after = [s for s in samples if s.end > kill_t]
    out: dict[str, Any] = {
        "requests": len(samples),
        "client_errors": sum(1 for s in samples if not 200 <= s.status < 300),
        "before_kill": len(before),
        "before_kill_on_victim": sum(1 for s in before if s.route == victim),
        "after_kill": len(after),
    }
    base_p50 = statistics.median(s.end - s.start for s in before) if before else None
    out["p50_before_ms"] = base_p50 * 1000 if base_p50 is not None else None
    first_b = min((s.end for s in ok if s.end > kill_t and s.route == survivor), default=None)
    out["first_success_elsewhere_s"] = first_b - kill_t if first_b is not None else None
    paid = [s for s in after if s.attempts > 1]
    out["paid_failed_attempt"] = len(paid)
    out["max_attempts"] = max((s.attempts for s in samples), default=0)
    out["last_paid_s"] = max(s.end for s in paid) - kill_t if paid else None
    out["last_request_started_on_victim_s"] = None
    late = [s for s in after if s.route == victim]
    if late:
        out["last_request_started_on_victim_s"] = max(s.start for s in late) - kill_t
    out["p50_normal_after_s"] = None
    out["worst_window_p50_ms"] = None
    if base_p50 is not None and after:
        end = max(s.end for s in after)
        windows: list[tuple[float, float]] = []
        t = kill_t
        while t < end:
            lat = [s.end - s.start for s in after if t < s.end <= t + window_s]
            if lat:
                windows.append((t, statistics.median(lat)))
            t += window_s
        out["worst_window_p50_ms"] = max(p for _, p in windows) * 1000 if windows else None
        normal = next((w_end for w_end, p in ((w + window_s, p) for w, p in windows)
                       if p <= factor * base_p50 and (first_b is None or w_end >= first_b)), None)
        out["p50_normal_after_s"] = normal - kill_t if normal is not None else None
    return out


# -- processes --------------------------------------------------------------------------------------

def start_provider(name: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "shareai.testing.fake_provider", "--port", "0", "--name", name,
                             "--model", UPSTREAM_MODEL, "--reply", "Hello there!"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "<name>: http://127.0.0.1:PORT/v1 serving <model>"
    match = re.search(r"(http://\S+/v1)", line)
    if match is None:
        proc.kill()
        raise RuntimeError(f"provider {name} did not start: {line!r}")
    return proc, match.group(1)


def serve_gateway(a_url: str, b_url: str, data_dir: str, port_file: str) -> None:
    import logging

    from shareai.coordinator.config import CoordinatorConfig, ProviderConfig, ProviderModel

    logging.basicConfig(level=logging.WARNING)
    providers = [ProviderConfig(name=name, base_url=url, timeout_s=10,
                                models=[ProviderModel(name=MODEL, upstream=UPSTREAM_MODEL, input_per_mtok=price,
                                                      output_per_mtok=price)])
                 for name, url, price in (("a", a_url, 0.1), ("b", b_url, 0.2))]
    cfg = CoordinatorConfig(http_port=0, grpc_port=0, grpc_host="127.0.0.1", data_dir=Path(data_dir),
                            providers=providers).validate()
    run_coordinator(cfg, port_file)


def attempts_metric(gateway: str) -> dict[str, dict[str, float]]:
    """`shareai_gateway_attempts_total` by route and outcome, read from the coordinator's /metrics."""
    req = urllib.request.Request(gateway + "/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if line.startswith("shareai_gateway_attempts_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            out.setdefault(labels.get("route", "?"), {})[labels.get("outcome", "?")] = float(line.rsplit(" ", 1)[1])
    return out


# -- load -------------------------------------------------------------------------------------------

async def load(gateway: str, key: str, concurrency: int, duration: float, kill_at: float,
               victim: subprocess.Popen[str]) -> tuple[list[Sample], float]:
    import aiohttp

    samples: list[Sample] = []
    body = json.dumps(BODY).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    kill_t = 0.0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30),
                                     connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        t0 = time.monotonic()
        end = t0 + duration

        async def worker() -> None:
            while time.monotonic() < end:
                start = time.monotonic()
                try:
                    async with session.post(gateway + "/v1/chat/completions", data=body, headers=headers) as resp:
                        await resp.read()
                        samples.append(Sample(start, time.monotonic(), resp.status,
                                              int(resp.headers.get("x-shareai-attempts", "0")),
                                              resp.headers.get("x-shareai-route", "")))
                except (aiohttp.ClientError, TimeoutError):
                    samples.append(Sample(start, time.monotonic(), 0, 0, ""))

        async def killer() -> None:
            nonlocal kill_t
            await asyncio.sleep(max(0.0, t0 + kill_at - time.monotonic()))
            kill_t = time.monotonic()
            victim.send_signal(signal.SIGKILL)

        await asyncio.gather(killer(), *(worker() for _ in range(concurrency)))
    return samples, kill_t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=16.0, help="seconds of load (past the 10 s breaker cooldown)")
    parser.add_argument("--kill-at", type=float, default=4.0, help="seconds into the load when A is killed")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if not 0 < args.kill_at < args.duration:
        parser.error("--kill-at must lie inside --duration")
    procs: list[subprocess.Popen[Any]] = []
    with tempfile.TemporaryDirectory(prefix="failover-bench-") as tmp:
        work = Path(tmp)
        try:
            a, a_url = start_provider("provider-a")
            procs.append(a)
            b, b_url = start_provider("provider-b")
            procs.append(b)
            gw = _spawn([sys.executable, "-m", "bench.failover_bench", "_gateway", a_url, b_url, str(work / "coord"),
                         str(work / "gw.port")], cwd=ROOT)
            procs.append(gw)
            gateway = f"http://127.0.0.1:{_wait_port(work / 'gw.port', gw)}"
            key = make_org_key(gateway)
            for _ in range(3):
                _http("POST", f"{gateway}/v1/chat/completions", BODY, key)  # warm the pools
            print(f"cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}; concurrency {args.concurrency}; "
                  f"{args.duration:g} s of load, provider A SIGKILLed at {args.kill_at:g} s")
            samples, kill_t = asyncio.run(load(gateway, key, args.concurrency, args.duration, args.kill_at, a))
            metric = attempts_metric(gateway)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
    fig = summarise(samples, kill_t)
    fig["coordinator_attempts_on_a"] = metric.get("a", {})
    fig["coordinator_attempts_on_b"] = metric.get("b", {})

    def sec(v: float | None) -> str:
        return f"{v * 1000:.0f} ms" if v is not None else "never"

    print(f"requests {fig['requests']} ({fig['before_kill']} before the kill, {fig['before_kill_on_victim']} of "
          f"them on A); p50 before the kill {fig['p50_before_ms']:.2f} ms")
    print(f"first success on B after the kill: {sec(fig['first_success_elsewhere_s'])}; p50 back within "
          f"{NORMAL_FACTOR}x: {sec(fig['p50_normal_after_s'])} (worst {WINDOW_S * 1000:.0f} ms window p50 "
          f"{fig['worst_window_p50_ms'] or 0:.2f} ms)")
    print(f"requests that paid a failed attempt: {fig['paid_failed_attempt']} (max attempts {fig['max_attempts']}); "
          f"the last one ended {sec(fig['last_paid_s'])} after the kill")
    print(f"coordinator attempts on A: {fig['coordinator_attempts_on_a']}; on B: {fig['coordinator_attempts_on_b']}")
    print(f"client errors: {fig['client_errors']}")
    if args.json:
        args.json.write_text(json.dumps(fig, indent=2))
    return 0 if fig["client_errors"] == 0 and fig["first_success_elsewhere_s"] is not None else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_gateway":
        serve_gateway(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        raise SystemExit(main())
