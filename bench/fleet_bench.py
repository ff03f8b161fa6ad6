"""Control-plane scale: simulated nodes heartbeating one real coordinator.

    python -m bench fleet [--nodes 10000] [--interval 10] [--duration 35] [--workers 2] [--json]

The coordinator runs as a real `shareai-coordinator serve` process (its CPU is measured from
outside with psutil). Nodes are seeded straight into its SQLite store (enrolling 10,000 nodes one
token at a time is not what is measured here), then every node calls the real `Register` and
`Heartbeat` RPCs over gRPC with its own credentials, from `--workers` client processes. Each node
beats like the agent does: first beat at a random offset, then every `jittered_interval` (80-100 %
of the interval), so the offered load is about nodes / (0.9 x interval).

Measured over the steady window (after the first interval, until the end):
- sustained heartbeats/s answered OK, client-side latency p50/p99, errors;
- coordinator CPU (% of one core) and RSS, against its idle CPU measured in the same run before
  any heartbeat (the baseline); CPU per 1,000 heartbeats/s;
- time to detect a dead node: one node stops beating; the time from its last answered heartbeat
  to the coordinator's own `node.offline` lifecycle event (written by its liveness sweep, read back
  from the audit log with the time the coordinator recorded it, so no polling delay of ours is in
  the figure), next to the deadline patience x interval; routing already skips the node from
  last_seen + deadline on (`routes_for` checks liveness per request), so the event is the upper
  bound of when it left routing;
- that no healthy node was ever taken offline: every `node.offline` event of the run is counted,
  not only the listing at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ADMIN_KEY = "sa-admin-bench-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_id(i: int) -> str:
    return f"node_bench{i:06d}"


def node_secret(seed: str, i: int) -> str:
    return f"ns_{seed}_{i}"


async def _seed(db_path: Path, n: int, seed: str) -> None:
    from shareai.coordinator.fleet.schema import FLEET_SCHEMA
    from shareai.coordinator.store.db import Database
    from shareai.wire.tokens import hash_secret

    db = await Database.open(db_path, [FLEET_SCHEMA])
    rows = [(node_id(i), f"sim-{i}", "bench", hash_secret(node_secret(seed, i)), time.time()) for i in range(n)]
    await db.run(lambda conn: conn.executemany(
        "INSERT INTO fleet_nodes (id, name, org, secret_hash, enrolled_at) VALUES (?, ?, ?, ?, ?)", rows))
    await db.close()


# -- client workers (separate processes) -------------------------------------------------------


@dataclass
class WorkerArgs:
    target: str
    seed: str
    lo: int
    hi: int
    interval_s: float
    channels: int
    victim: int | None  # this worker's node that stops beating
    victim_stop_after_s: float


def _worker_main(args: WorkerArgs, go: Any, stop: Any, out: Any) -> None:
    asyncio.run(_worker(args, go, stop, out))


async def _worker(args: WorkerArgs, go: Any, stop: Any, out: Any) -> None:
    import grpc

    from shareai.agent.control.backoff import jittered_interval
    from shareai.proto.fleet.v1 import fleet_pb2 as pb
    from shareai.proto.fleet.v1 import fleet_pb2_grpc as pb_grpc

    channels = [grpc.aio.insecure_channel(args.target) for _ in range(args.channels)]
    stubs = [pb_grpc.FleetStub(c) for c in channels]
    rng = random.Random(args.lo)
    ids = range(args.lo, args.hi)
    meta = {i: (("authorization", f"Bearer {node_secret(args.seed, i)}"), ("x-shareai-node-id", node_id(i)))
            for i in ids}
    host = pb.HostInfo(hostname="sim", cpu_cores_logical=16, gpus=[pb.GpuInfo(index=0, name="SIM-GPU", uuid="GPU-0")])

    # Phase 1: register everybody (bounded concurrency).
    sem = asyncio.Semaphore(128)
    reg_failures = 0

    async def register(i: int) -> None:
        nonlocal reg_failures
        req = pb.RegisterRequest(
            node_id=node_id(i), name=f"sim-{i}", host=host, endpoint_url=f"http://10.0.{i // 250}.{i % 250}:8000/v1",
            models=[pb.ModelInfo(name="sim-model", slots=2, n_ctx=4096, queue_limit=8)],
            mode=pb.AVAILABILITY_MODE_ALWAYS_ON, state=pb.AVAILABILITY_STATE_AVAILABLE)
        async with sem:
            for _ in range(5):
                try:
                    await stubs[i % len(stubs)].Register(req, metadata=meta[i], timeout=30.0)
                    return
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.5)
            reg_failures += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(register(i) for i in ids))
    out.put(("registered", args.lo, args.hi - args.lo - reg_failures, time.perf_counter() - t0))
    await asyncio.to_thread(go.wait)  # a multiprocessing event: wait for it off the loop

    started = time.time()
    ok_times: list[float] = []
    latencies: list[float] = []
    errors = 0
    stopping = asyncio.Event()

    async def beat(i: int) -> None:
        nonlocal errors
        req = pb.HeartbeatRequest(node_id=node_id(i), state=pb.AVAILABILITY_STATE_AVAILABLE, cpu_pct=12.5,
                                  models=[pb.ModelLoad(name="sim-model", slots_busy=1, slots_free=1)],
                                  gpus=[pb.GpuLoad(uuid="GPU-0", utilization_pct=40.0, power_w=210.0)],
                                  has_power=True, power_w=210.0)
        stub = stubs[i % len(stubs)]
        delay = rng.uniform(0, args.interval_s)
        while True:
            try:
                await asyncio.wait_for(stopping.wait(), delay)
                return
            except TimeoutError:
                pass
            if i == args.victim and time.time() - started > args.victim_stop_after_s:
                out.put(("victim", i, ok_times_victim[-1] if ok_times_victim else None))
                return
            req.seq += 1
            t = time.perf_counter()
            try:
                await stub.Heartbeat(req, metadata=meta[i], timeout=5.0)
            except grpc.aio.AioRpcError:
                errors += 1
            else:
                now = time.time()
                latencies.append(time.perf_counter() - t)
                ok_times.append(now)
                if i == args.victim:
                    ok_times_victim.append(now)
            delay = jittered_interval(args.interval_s, rng)

    ok_times_victim: list[float] = []

    async def watch_stop() -> None:
        await asyncio.to_thread(stop.wait)
        stopping.set()

    await asyncio.gather(watch_stop(), *(beat(i) for i in ids))
    for c in channels:
        await c.close()
    out.put(("done", args.lo, ok_times, latencies, errors))


# -- the coordinator process and the admin API -------------------------------------------------


def offline_events(events: list[dict[str, Any]], victim: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The victim's first `node.offline` audit event, and the other nodes that got one (healthy
    nodes the coordinator wrongly took offline)."""
    mine = [e for e in events if e["action"] == "node.offline" and e["target"] == f"node:{victim}"]
    others = sorted({e["target"].removeprefix("node:") for e in events
                     if e["action"] == "node.offline" and e["target"] != f"node:{victim}"})
    return (min(mine, key=lambda e: e["ts"]) if mine else None), others


def _admin(url: str, path: str, timeout_s: float = 30.0) -> Any:
    req = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        return json.loads(resp.read())


def _start_coordinator(data_dir: Path, interval_s: float, patience: int) -> tuple[subprocess.Popen[bytes], str, str]:
    http_port, grpc_port = _free_port(), _free_port()
    config = data_dir / "coordinator.toml"
    # The simulated nodes advertise 10.0.x.y endpoints from 127.0.0.1: allowed explicitly.
    config.write_text(f"[fleet]\nheartbeat_interval_s = {interval_s}\npatience = {patience}\n"
                      '[nodes]\nallowed_networks = ["10.0.0.0/8"]\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "shareai.coordinator.cli", "serve", "--config", str(config), "--data-dir",
         str(data_dir), "--http-port", str(http_port), "--grpc-port", str(grpc_port), "--log-level", "warning"],
        env={**os.environ, "SHAREAI_ADMIN_KEY": ADMIN_KEY}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1.0).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"the coordinator did not start: {err[-2000:]}") from None
            time.sleep(0.1)
    return proc, url, f"127.0.0.1:{grpc_port}"


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run(nodes: int, interval_s: float, patience: int, duration_s: float, workers: int, channels: int) -> dict[str, Any]:
    import psutil

    deadline_s = interval_s * patience
    if duration_s < interval_s + deadline_s + 2:
        duration_s = interval_s + deadline_s + 2  # long enough to see the dead node go offline
    seed = f"{random.getrandbits(48):x}"
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        data_dir = Path(tmp)
        asyncio.run(_seed(data_dir / "coordinator.db", nodes, seed))
        coord, url, target = _start_coordinator(data_dir, interval_s, patience)
        cproc = psutil.Process(coord.pid)
        ctx = mp.get_context("spawn")
        go, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
        procs = []
        try:
            bounds = [nodes * k // workers for k in range(workers + 1)]
            for k in range(workers):
                args = WorkerArgs(target, seed, bounds[k], bounds[k + 1], interval_s, channels,
                                  victim=0 if k == 0 else None, victim_stop_after_s=interval_s + 1.0)
                p = ctx.Process(target=_worker_main, args=(args, go, stop, out), daemon=True)
                p.start()
                procs.append(p)
            registered, reg_time = 0, 0.0
            for _ in range(workers):
                kind, _lo, count, secs = out.get(timeout=300)
                assert kind == "registered"
                registered += count
                reg_time = max(reg_time, secs)
            # Baseline: the coordinator's CPU with every node registered and no heartbeats.
            c0, t0 = cproc.cpu_times(), time.monotonic()
            time.sleep(2.0)
            c1, t1 = cproc.cpu_times(), time.monotonic()
            idle_cpu = 100 * ((c1.user + c1.system) - (c0.user + c0.system)) / (t1 - t0)

            go.set()
            start = time.time()
            time.sleep(interval_s)  # ramp: every node has sent its first beat
            m0, mt0 = cproc.cpu_times(), time.time()
            victim_last: float | None = None
            end = start + duration_s
            while time.time() < end:
                try:
                    kind, _i, last = out.get(timeout=0.2)
                    if kind == "victim":
                        victim_last = last
                except Exception:  # queue.Empty
                    pass
            m1, mt1 = cproc.cpu_times(), time.time()
            rss = cproc.memory_info().rss
            stop.set()
            ok_times: list[float] = []
            latencies: list[float] = []
            errors = 0
            for _ in range(workers):
                while True:
                    msg = out.get(timeout=60)
                    if msg[0] == "done":
                        break
                    if msg[0] == "victim":
                        victim_last = msg[2]
                ok_times += msg[2]
                latencies += msg[3]
                errors += msg[4]
            listing = _admin(url, "/admin/v1/nodes")["data"]
            events = _admin(url, f"/admin/v1/audit?action=node.offline&since={start - 1:.3f}&limit=10000")["data"]
        finally:
            stop.set()
            for p in procs:
                p.join(timeout=10)
                if p.is_alive():
                    p.kill()
            coord.terminate()
            try:
                coord.wait(timeout=15)
            except subprocess.TimeoutExpired:
                coord.kill()
    window = mt1 - mt0
    in_window = [t for t in ok_times if mt0 <= t <= mt1]
    rate = len(in_window) / window
    cpu = 100 * ((m1.user + m1.system) - (m0.user + m0.system)) / window
    statuses: dict[str, int] = {}
    for n in listing:
        statuses[n["status"]] = statuses.get(n["status"], 0) + 1
    event, wrongly_offline = offline_events(events, node_id(0))
    # Both clocks are this machine's: the client's last answered heartbeat, the coordinator's event.
    detect_s = (event["ts"] - victim_last) if (event and victim_last) else None
    # The coordinator's own view: its last_seen of the node to its event (no client clock at all).
    silent_s = event["details"].get("silent_s") if event else None
    return {
        "nodes": nodes, "interval_s": interval_s, "patience": patience, "workers": workers,
        "channels_per_worker": channels, "registered": registered, "register_s": round(reg_time, 2),
        "register_per_s": round(registered / reg_time, 1) if reg_time else None,
        "offered_hb_per_s": round(nodes / (0.9 * interval_s), 1),
        "sustained_hb_per_s": round(rate, 1), "window_s": round(window, 1),
        "errors": errors,
        "latency_p50_ms": round(1000 * _pct(latencies, 0.5), 2),
        "latency_p99_ms": round(1000 * _pct(latencies, 0.99), 2),
        "coordinator_cpu_pct": round(cpu, 1), "coordinator_idle_cpu_pct": round(idle_cpu, 1),
        "cpu_pct_per_1k_hb_s": round(cpu / (rate / 1000), 1) if rate else None,
        "coordinator_rss_mib": round(rss / 2**20, 1),
        "dead_node_deadline_s": deadline_s,
        "dead_node_detected_s": round(detect_s, 2) if detect_s is not None else None,
        "dead_node_silent_s_at_event": silent_s,
        "healthy_nodes_taken_offline": len(wrongly_offline),
        "statuses_at_end": statuses,
        "cpu_count": os.cpu_count(),
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench fleet", description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--interval", type=float, default=10.0, help="heartbeat interval (s)")
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--duration", type=float, default=35.0, help="seconds of heartbeating (min: interval x "
                    "(patience + 1) + 2, to see the dead node go offline)")
    ap.add_argument("--workers", type=int, default=2, help="client processes")
    ap.add_argument("--channels", type=int, default=4, help="gRPC channels per client process")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    result = run(a.nodes, a.interval, a.patience, a.duration, a.workers, a.channels)
    if a.json:
        print(json.dumps(result, indent=2))
        return 0
    r = result
    print(f"fleet bench: {r['nodes']} nodes, interval {r['interval_s']:g}s, patience {r['patience']}, "
          f"{r['workers']} client processes x {r['channels_per_worker']} channels, {r['cpu_count']} CPUs")
    print(f"  register           {r['registered']} nodes in {r['register_s']}s ({r['register_per_s']}/s)")
    print(f"  heartbeats         {r['sustained_hb_per_s']}/s sustained over {r['window_s']}s "
          f"(offered {r['offered_hb_per_s']}/s), errors {r['errors']}, "
          f"latency p50 {r['latency_p50_ms']} ms p99 {r['latency_p99_ms']} ms")
    print(f"  coordinator        CPU {r['coordinator_cpu_pct']}% of a core (idle baseline "
          f"{r['coordinator_idle_cpu_pct']}%), {r['cpu_pct_per_1k_hb_s']}% per 1k hb/s, "
          f"RSS {r['coordinator_rss_mib']} MiB")
    print(f"  dead node          node.offline event {r['dead_node_detected_s']}s after its last answered heartbeat "
          f"(coordinator: silent {r['dead_node_silent_s_at_event']}s; deadline {r['dead_node_deadline_s']:g}s)")
    print(f"  false offlines     {r['healthy_nodes_taken_offline']} healthy node(s) got a node.offline event")
    print(f"  statuses at end    {r['statuses_at_end']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
