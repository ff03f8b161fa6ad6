"""Gateway benchmark: added latency and throughput vs the upstream called directly, and vs LiteLLM.

    python -m bench gateway                        # 10 s per measurement, LiteLLM included (~90 s)
    python -m bench gateway --duration 5 --rounds 5 --skip-litellm --json out.json
    python -m bench gateway --baseline /work/wt/integ   # also another checkout's gateway, interleaved

The coordinator runs on the loop its `serve` command uses (`shareai.aio`: uvloop where installed)
and the JSON codec of `shareai.wire.jsonc` (orjson where installed); SHAREAI_LOOP=asyncio and
SHAREAI_JSON=stdlib measure the standard ones. `--baseline DIR` adds the gateway of another checkout
(its own `.venv` and this file's `_gateway` entry there) as a fourth target in the same rounds, so a
change is measured against its base side by side.

Every server runs in its own process: a minimal fake OpenAI upstream (fixed JSON answer, no
delay), the coordinator with its default subsystems (fleet, governance, gateway: so key auth, rate
limits with reservation/settlement and usage accounting are all on, through an org key with high
limits), and LiteLLM's proxy (one worker, version LITELLM_VERSION) in a virtualenv the bench creates
under `~/.cache/shareai-bench/`. The load generator is `wrk` (C, not the bottleneck) when installed,
else an aiohttp closed-loop client in its own process.

The measurements are interleaved: each round measures every target in turn (first target
rotating), and each figure is the median over the rounds, so drifting background load on a shared
machine does not favour one target. Any non-2xx answer or transport error fails every goal whose
measurements saw it; the exit code is 1 when a goal is missed. Compare ratios, not absolute
numbers across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

MODEL = "bench-model"
UPSTREAM_MODEL = "bench-upstream"
UPSTREAM_KEY = "sk-upstream-bench"
ADMIN_KEY = "sa-admin-bench-key"
LITELLM_KEY = "sk-litellm-bench"
LITELLM_VERSION = "1.108.7"  # the peer's version, pinned: the figures in docs/benchmarks.md name it
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16}
CACHE = Path(os.environ.get("SHAREAI_BENCH_CACHE", Path.home() / ".cache" / "shareai-bench"))
ROOT = Path(__file__).resolve().parent.parent


# -- processes under test ---------------------------------------------------------------------------

def _write_port(path: str, port: int) -> None:
    Path(path).write_text(str(port))


def serve_upstream(port_file: str) -> None:
    """A minimal OpenAI-compatible upstream: the same pre-encoded answer every time."""
    from aiohttp import web

    answer = json.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": UPSTREAM_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there!"},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }).encode()

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=answer, content_type="application/json")

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": UPSTREAM_MODEL, "object": "model"}]})

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        app.router.add_get("/v1/models", models)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        _write_port(port_file, int(runner.addresses[0][1]))
        await asyncio.Event().wait()

    asyncio.run(main())


def run_coordinator(cfg: Any, port_file: str) -> None:
    """Serve a composed coordinator on `cfg` (on `serve`'s loop) until SIGTERM, its HTTP port in `port_file`."""
    from shareai import aio
    from shareai.coordinator.compose import build_coordinator

    async def main() -> None:
        coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
        await coord.start()
        _write_port(port_file, coord.http_port)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await coord.stop()

    aio.run(main())


def serve_gateway(upstream_url: str, data_dir: str, port_file: str) -> None:
    import logging

    from shareai.coordinator.config import CoordinatorConfig, ProviderConfig, ProviderModel

    logging.basicConfig(level=logging.WARNING)
    cfg = CoordinatorConfig(
        http_port=0, grpc_port=0, grpc_host="127.0.0.1", data_dir=Path(data_dir),
        providers=[ProviderConfig(name="upstream", base_url=upstream_url, api_keys=[UPSTREAM_KEY], timeout_s=30,
                                  models=[ProviderModel(name=MODEL, upstream=UPSTREAM_MODEL, input_per_mtok=0.1,
                                                        output_per_mtok=0.4)])],
    ).validate()
    run_coordinator(cfg, port_file)


def _spawn(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)


def _wait_port(path: Path, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        time.sleep(0.05)
    raise RuntimeError("server did not start in time")


def _http(method: str, url: str, body: dict[str, Any] | None = None, key: str | None = None,
          timeout_s: float = 10.0) -> Any:
    req = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {key}"} if key else {})})
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        return json.loads(resp.read() or b"null")


def make_org_key(gateway_url: str) -> str:
    """An org key with rate limits and quotas far above the load, so the limiter and the quota
    reservation/settlement run on every request but never refuse."""
    _http("POST", f"{gateway_url}/admin/v1/orgs", {"name": "bench"}, ADMIN_KEY)
    _http("POST", f"{gateway_url}/admin/v1/limits", {
        "org": "bench", "rpm": 100_000_000, "tpm": 10**12, "daily_tokens": 10**12, "monthly_tokens": 10**13,
        "daily_cost": 10**9, "monthly_cost": 10**10}, ADMIN_KEY)
    created = _http("POST", f"{gateway_url}/admin/v1/keys", {"org": "bench", "name": "bench"}, ADMIN_KEY)
    return str(created["secret"])


def litellm_python() -> Path:
    """LiteLLM's proxy at the pinned version, in its own virtualenv (one per version, so a cached
    older install is never measured under the new version's name)."""
    venv = CACHE / f"litellm-{LITELLM_VERSION}-venv"
    py = venv / "bin" / "python"
    if not (venv / "bin" / "litellm").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"], check=True)
    return venv / "bin" / "litellm"


def start_litellm(upstream_url: str, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    exe = litellm_python()
    cfg = work / "litellm.yaml"
    cfg.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{UPSTREAM_MODEL}\n"
        f"      api_base: {upstream_url}\n"
        f"      api_key: {UPSTREAM_KEY}\n"
        "general_settings:\n"
        f"  master_key: {LITELLM_KEY}\n"
    )
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False",
           "LITELLM_LOG": "ERROR"}
    proc = _spawn([str(exe), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
                  env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"litellm exited: {proc.stderr.read().decode()[-3000:] if proc.stderr else ''}")
        try:
            _http("POST", f"{url}/v1/chat/completions", BODY, LITELLM_KEY, timeout_s=5)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("litellm did not become ready within 180 s")


# -- load generation --------------------------------------------------------------------------------

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [[%(body)s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests":%%d,"duration_us":%%d,"errors":%%d,"non2xx":%%d,' ..
    '"p50_us":%%d,"p99_us":%%d}\\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
"""


def run_wrk(url: str, key: str, concurrency: int, duration: float, work: Path) -> dict[str, float]:
    # wrk's `errors.status` counts answers >= 400 (none of the targets answers 3xx), and its
    # connect/read/write/timeout errors are transport failures: both land in "errors".
    script = work / f"wrk-{abs(hash((url, key)))}.lua"
    script.write_text(WRK_SCRIPT % {"body": json.dumps(BODY), "key": key})
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{duration:g}s", "--timeout", "10s", "-s",
                          str(script), url + "/v1/chat/completions"], capture_output=True, text=True, check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT "))
    r = json.loads(line[7:])
    return {"rps": r["requests"] / (r["duration_us"] / 1e6), "p50_ms": r["p50_us"] / 1000,
            "p99_ms": r["p99_us"] / 1000, "errors": r["errors"] + r["non2xx"], "requests": r["requests"]}


async def _aiohttp_load(url: str, key: str, concurrency: int, duration: float) -> dict[str, float]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    body = json.dumps(BODY).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10),
                                     connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        end = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                try:
                    async with s.post(url + "/v1/chat/completions", data=body, headers=headers) as resp:
                        await resp.read()
                        if not 200 <= resp.status < 300:
                            errors += 1
                except (aiohttp.ClientError, TimeoutError):
                    errors += 1  # counted, never allowed to end the measurement early
                latencies.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / elapsed, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000, "errors": errors,
            "requests": len(latencies)}


def run_load(url: str, key: str, concurrency: int, duration: float, work: Path) -> dict[str, float]:
    if shutil.which("wrk"):
        return run_wrk(url, key, concurrency, duration, work)
    # Fallback: a separate process, so the client never shares an event loop with a server.
    out = subprocess.run([sys.executable, __file__, "_load", url, key, str(concurrency), str(duration)],
                         capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# -- the run ----------------------------------------------------------------------------------------

def schedule(names: list[str], rounds: int) -> list[list[str]]:
    """The order of each round: every target once per round, the first one rotating, so background
    load that drifts during the run falls on all targets alike instead of on whichever ran last."""
    return [names[r % len(names):] + names[:r % len(names)] for r in range(rounds)]


def combine(samples: list[dict[str, float]]) -> dict[str, float]:
    """One figure per measurement from its rounds: medians of the rates and percentiles; requests
    and errors summed, so a single failed request anywhere stays visible."""
    out = {k: statistics.median(s[k] for s in samples) for k in ("rps", "p50_ms", "p99_ms")}
    out["requests"] = sum(s["requests"] for s in samples)
    out["errors"] = sum(s["errors"] for s in samples)
    out["rounds"] = len(samples)
    return out


def verdicts(results: dict[str, dict[str, float]], summary: dict[str, float], c: int) -> list[tuple[str, bool, str]]:
    """(goal, met, why). A goal whose measurements saw any non-2xx answer or transport error is
    missed whatever its figure: a fast 401 or 429 must never "meet" a throughput goal."""

    def clean(*keys: str) -> str:
        bad = [f"{k} {int(results[k]['errors'])} of {int(results[k]['requests'])}" for k in keys
               if results[k]["errors"]]
        return f"non-2xx or errors: {', '.join(bad)}" if bad else ""

    checks = [
        ("p50 added <= 0.4 ms", summary["added_p50_ms"] <= 0.4, f"{summary['added_p50_ms']:.2f} ms",
         ("gateway_c1", "direct_c1")),
        (">= 2500 req/s", summary["gateway_rps"] >= 2500, f"{summary['gateway_rps']:.0f} req/s", (f"gateway_c{c}",)),
    ]
    if "gateway_vs_litellm_rps" in summary:
        checks.append((">= 25x LiteLLM", summary["gateway_vs_litellm_rps"] >= 25,
                       f"{summary['gateway_vs_litellm_rps']:.1f}x", (f"gateway_c{c}", f"litellm_c{c}")))
    out = []
    for name, ok, figure, keys in checks:
        errors = clean(*keys)
        out.append((name, ok and not errors, f"{figure}; {errors}" if errors else figure))
    errors = clean(*results)
    total = sum(int(r["requests"]) for r in results.values())
    out.append(("every request answered 2xx", not errors, errors or f"{total} requests, 0 errors"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement, over all rounds")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; each measures every target in turn")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--skip-litellm", action="store_true")
    parser.add_argument("--baseline", type=Path, help="another checkout (with .venv) whose gateway joins the rounds")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration <= 0:
        parser.error("--rounds must be >= 1 and --duration > 0")
    procs: list[subprocess.Popen[bytes]] = []
    c = args.concurrency
    samples: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        work = Path(tmp)
        try:
            up = _spawn([sys.executable, __file__, "_upstream", str(work / "up.port")])
            procs.append(up)
            upstream = f"http://127.0.0.1:{_wait_port(work / 'up.port', up)}"
            gw = _spawn([sys.executable, __file__, "_gateway", upstream + "/v1", str(work / "coord"),
                         str(work / "gw.port")], cwd=ROOT)
            procs.append(gw)
            gateway = f"http://127.0.0.1:{_wait_port(work / 'gw.port', gw)}"
            key = make_org_key(gateway)
            _http("POST", f"{gateway}/v1/chat/completions", BODY, key)  # warm the connection pool
            targets = {"direct": (upstream, UPSTREAM_KEY), "gateway": (gateway, key)}
            if args.baseline is not None:
                base = args.baseline.resolve()
                bg = _spawn([str(base / ".venv" / "bin" / "python"), str(base / "bench" / "gateway_bench.py"),
                             "_gateway", upstream + "/v1", str(work / "base-coord"), str(work / "base.port")], cwd=base)
                procs.append(bg)
                baseline = f"http://127.0.0.1:{_wait_port(work / 'base.port', bg)}"
                base_key = make_org_key(baseline)
                _http("POST", f"{baseline}/v1/chat/completions", BODY, base_key)
                targets["baseline"] = (baseline, base_key)
            if not args.skip_litellm:
                ll, ll_url = start_litellm(upstream + "/v1", work)
                procs.append(ll)
                targets["litellm"] = (ll_url, LITELLM_KEY)
            load = "wrk" if shutil.which("wrk") else "aiohttp (separate process)"
            slice_s = args.duration / args.rounds
            litellm = f"; LiteLLM {LITELLM_VERSION}" if "litellm" in targets else ""
            from shareai import aio
            from shareai.wire import jsonc

            print(f"gateway: loop {aio.loop_name(aio.loop_factory())}, json {jsonc.CODEC.name}"
                  + (f"; baseline: {args.baseline}" if args.baseline is not None else ""))
            print(f"load generator: {load}; {args.rounds} rounds x {slice_s:g} s per target and concurrency, "
                  f"targets interleaved; cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.2f}{litellm}")
            for url, k in targets.values():
                run_load(url, k, 1, 1.0, work)  # warm-up
            for order in schedule(list(targets), args.rounds):
                for name in order:
                    url, k = targets[name]
                    for conc in (1, c):
                        samples.setdefault(f"{name}_c{conc}", []).append(run_load(url, k, conc, slice_s, work))
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
    results = {k: combine(v) for k, v in samples.items()}
    for name in targets:
        for conc in (1, c):
            r = results[f"{name}_c{conc}"]
            print(f"{name:8s} c={conc:<3d} {r['rps']:9.1f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                  f"p99 {r['p99_ms']:7.2f} ms  (medians of {int(r['rounds'])})  "
                  f"requests {int(r['requests'])}  non-2xx/errors {int(r['errors'])}")
    summary = {
        "added_p50_ms": results["gateway_c1"]["p50_ms"] - results["direct_c1"]["p50_ms"],
        "added_p99_ms": results["gateway_c1"]["p99_ms"] - results["direct_c1"]["p99_ms"],
        "gateway_rps": results[f"gateway_c{c}"]["rps"],
        "gateway_vs_direct_rps": results[f"gateway_c{c}"]["rps"] / results[f"direct_c{c}"]["rps"],
    }
    if f"baseline_c{c}" in results:
        summary["baseline_added_p50_ms"] = results["baseline_c1"]["p50_ms"] - results["direct_c1"]["p50_ms"]
        summary["baseline_rps"] = results[f"baseline_c{c}"]["rps"]
        summary["gateway_vs_baseline_rps"] = summary["gateway_rps"] / summary["baseline_rps"]
        if f"litellm_c{c}" in results:
            summary["baseline_vs_litellm_rps"] = summary["baseline_rps"] / results[f"litellm_c{c}"]["rps"]
    if f"litellm_c{c}" in results:
        summary["gateway_vs_litellm_rps"] = results[f"gateway_c{c}"]["rps"] / results[f"litellm_c{c}"]["rps"]
        summary["litellm_added_p50_ms"] = results["litellm_c1"]["p50_ms"] - results["direct_c1"]["p50_ms"]
    print("summary: " + ", ".join(f"{k} {v:.2f}" for k, v in summary.items()))
    goals = verdicts(results, summary, c)
    print("goals: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'} ({why})" for name, ok, why in goals))
    if args.json:
        args.json.write_text(json.dumps({"results": results, "summary": summary,
                                         "goals": [{"goal": n, "met": ok, "figure": why} for n, ok, why in goals],
                                         "rounds": args.rounds, "litellm_version": LITELLM_VERSION}, indent=2))
    return 0 if all(ok for _, ok, _ in goals) else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_upstream":
        serve_upstream(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "_gateway":
        serve_gateway(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) > 1 and sys.argv[1] == "_load":
        print(json.dumps(asyncio.run(_aiohttp_load(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))))
    else:
        raise SystemExit(main())
