"""Usage report: rows vs report time, and how responsive the coordinator stays while a report runs.

    python -m bench usage [--rows 10000,100000,300000] [--by route] [--repeat 3] [--json]

A real in-process `Coordinator` (governance subsystem, SQLite in a temporary data dir) is seeded
with N usage rows spread over the last 29 days (so the default 30-day window covers them all), then
each report runs once unmeasured (warm-up), then `--repeat` times, alternating:

- sql: the coordinator's report, `SqliteGovernanceStore.usage_report` (one SQL aggregation on the
  database thread);
- baseline: the old algorithm, kept only here: every row of the window loaded as a `UsageRecord`
  and aggregated in Python on the event loop (`baseline_summarise`).

While each report runs, two probes measure the cost to everything else the coordinator does:
- loop ping: a task on the coordinator's event loop that asks to wake every 5 ms; its worst
  lateness is the longest the loop was frozen (gateway, heartbeats and admin API all wait that long);
- healthz: a thread in this process (its own connection, not on the loop) that calls the
  coordinator's `GET /healthz` back to back; its worst round trip is what a client or a liveness
  check sees.

Then each method runs once more in a fresh process on the same database file, reporting how far
the report raised that process's peak RSS (Linux: VmHWM after a reset) (memory is not a goal, only reported).

Goal per row count (ratios against the baseline measured in the same run): the SQL report's worst
loop stall is at most 1/10 of the baseline's, and its time no more than the baseline's. Figures are
medians over the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import http.client
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from shareai.coordinator.app import Coordinator
from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import CoordinatorConfig
from shareai.coordinator.governance.reports import GROUPS, ReportQuery, default_since
from shareai.coordinator.governance.sqlite_store import SqliteGovernanceStore, insert_usage
from shareai.coordinator.interfaces import UsageRecord
from shareai.coordinator.store.db import Database
from shareai.wire.errors import InvalidRequest

DAY = 86400.0

# -- the baseline: the report as it was before it moved into SQL (row by row, on the event loop) --


def _percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _group_of(record: UsageRecord, by: str) -> str:
    if by == "model":
        return record.model
    if by == "route":
        return record.route
    if by == "org":
        return record.org or "(bootstrap)"
    if by == "key":
        return record.key_id
    return time.strftime("%Y-%m-%d", time.gmtime(record.ts))


def baseline_summarise(records: Iterable[UsageRecord], by: str) -> list[dict[str, Any]]:
    """The old Python aggregation (also the reference the SQL report is tested against)."""
    if by not in GROUPS:
        raise InvalidRequest(f"'by' must be one of {', '.join(GROUPS)}; got {by!r}.", param="by")
    groups: dict[str, list[UsageRecord]] = {}
    for r in records:
        groups.setdefault(_group_of(r, by), []).append(r)
    out: list[dict[str, Any]] = []
    for name in sorted(groups):
        rows = groups[name]
        latencies = sorted(r.latency_ms for r in rows)
        prompt = sum(r.prompt_tokens for r in rows)
        completion = sum(r.completion_tokens for r in rows)
        cost = sum(r.cost_usd for r in rows)
        out.append({
            "group": name,
            "requests": len(rows),
            "errors": sum(1 for r in rows if r.status >= 400),
            "cache_hits": sum(1 for r in rows if r.cache_hit),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "cost_usd": round(cost, 10),
            "cost_per_request_usd": round(cost / len(rows), 10),
            "latency_p50_ms": _percentile(latencies, 50),
            "latency_p95_ms": _percentile(latencies, 95),
        })
    return out


# -- probes -----------------------------------------------------------------------------------


class LoopPing:
    """Wakes every `period_s` on the loop under test; records how late each wake-up was."""

    def __init__(self, period_s: float = 0.005) -> None:
        self.period_s = period_s
        self.late: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._due = 0.0

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._due = loop.time() + self.period_s
            await asyncio.sleep(self.period_s)
            self.late.append(max(0.0, loop.time() - self._due))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> float:
        assert self._task is not None
        # A wake-up still waiting when the work ends was delayed too (a stall at the very end of
        # the work would otherwise go unseen).
        self.late.append(max(0.0, asyncio.get_running_loop().time() - self._due))
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        return max(self.late, default=0.0)


class HealthProbe(threading.Thread):
    """Calls `GET /healthz` back to back from its own thread until stopped; keeps the round trips."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.rtts: list[float] = []
        self.stop_flag = threading.Event()
        self.errors = 0

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while not self.stop_flag.is_set():
            t0 = time.perf_counter()
            try:
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    self.errors += 1
            except OSError:
                self.errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.rtts.append(time.perf_counter() - t0)
            time.sleep(0.002)
        conn.close()


async def _probed(coord: Coordinator, work: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    gc.collect()  # neither side pays for the other's garbage
    ping = LoopPing()
    probe = HealthProbe(coord.http_port)
    probe.start()
    await asyncio.sleep(0.05)  # the probe is connected and beating before the report starts
    ping.start()
    t0 = time.perf_counter()
    result = await work()
    elapsed = time.perf_counter() - t0
    stall = await ping.stop()
    probe.stop_flag.set()
    await asyncio.to_thread(probe.join, 60)
    return {"report_s": elapsed, "loop_stall_s": stall, "healthz_max_s": max(probe.rtts, default=0.0),
            "healthz_errors": probe.errors, "groups": len(result)}


# -- the run ----------------------------------------------------------------------------------


def _rows(n: int, now: float, rng: random.Random) -> list[UsageRecord]:
    routes = ["provider-a", "provider-b", "node:n1", "node:n2", "node:n3"]
    return [UsageRecord(ts=now - rng.uniform(60, 29 * DAY), org=rng.choice(["acme", "beta", "gamma", None]),
                        key_id=f"key_{rng.randrange(40)}", model=rng.choice(["gemma", "llama", "qwen"]),
                        route=rng.choice(routes), prompt_tokens=rng.randrange(2000),
                        completion_tokens=rng.randrange(800), cost_usd=rng.random() / 1000,
                        latency_ms=rng.uniform(20, 4000), ttft_ms=rng.uniform(5, 500),
                        status=rng.choice([200] * 18 + [429, 502]), attempts=1, cache_hit=rng.random() < 0.1,
                        stream=rng.random() < 0.5, extra={"energy_wh": 0.01})
            for _ in range(n)]


async def _seed(coord: Coordinator, n: int, now: float) -> None:
    rng = random.Random(n)
    for start in range(0, n, 50_000):
        batch = _rows(min(50_000, n - start), now, rng)
        await coord.db.run(lambda conn, b=batch: insert_usage(conn, b))


async def _measure(n: int, by: str, repeat: int) -> dict[str, list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory(prefix="shareai-usage-bench-") as tmp:
        cfg = CoordinatorConfig(http_host="127.0.0.1", http_port=0, grpc_host="127.0.0.1", grpc_port=0,
                                data_dir=Path(tmp) / "data", api_keys=["bench-key"])
        coord = build_coordinator(cfg, admin_key="sa-admin-bench-key-0123456789")
        gov = coord.governance
        assert gov is not None
        await coord.start()
        try:
            now = time.time()
            await _seed(coord, n, now)
            query = ReportQuery(by=by, since=default_since(now))

            async def sql() -> Any:
                return (await gov.store.usage_report(query))["data"]

            async def baseline() -> Any:
                return baseline_summarise(await gov.store.usage(since=query.since), query.by)

            await sql()  # warm-up (page cache, first-use costs), not measured
            await baseline()
            runs: dict[str, list[dict[str, Any]]] = {"sql": [], "baseline": []}
            for _ in range(repeat):  # alternate, so background load hits both alike
                for name, work in (("sql", sql), ("baseline", baseline)):
                    runs[name].append(await _probed(coord, work))
            if [g["requests"] for g in await sql()] != [g["requests"] for g in await baseline()]:
                raise RuntimeError("the SQL report and the baseline disagree")
        finally:
            await coord.stop()
        for name in ("sql", "baseline"):
            growth = await asyncio.to_thread(_peak_growth_mib, Path(tmp) / "data" / "coordinator.db", name, by,
                                             query.since)
            for sample in runs[name]:
                sample["peak_rss_growth_mib"] = growth
        return runs


def _peak_growth_mib(db_path: Path, method: str, by: str, since: float) -> float:
    """How far one report raises a fresh process's peak RSS (each method in its own process, so
    neither inherits the other's high-water mark)."""
    code = ("import sys; from bench.usage_bench import _child; "
            f"print(_child({str(db_path)!r}, {method!r}, {by!r}, {since!r}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], check=True,
                         capture_output=True, text=True, timeout=600).stdout
    return float(out.strip().splitlines()[-1])


def _child(db_path: str, method: str, by: str, since: float) -> float:
    async def run() -> float:
        db = await Database.open(db_path)
        store = SqliteGovernanceStore(db)
        before = _proc_kib("VmRSS")
        # Reset the peak to the current RSS (Linux): a process inherits its parent's ru_maxrss
        # across fork and exec, so only VmHWM after clear_refs measures this report alone.
        _reset_peak()
        if method == "sql":
            await store.usage_report(ReportQuery(by=by, since=since))
        else:
            baseline_summarise(await store.usage(since=since), by)
        peak = _proc_kib("VmHWM")
        await db.close()
        return (peak - before) / 1024

    return asyncio.run(run())


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:  # a procfs write: immediate, never waits on disk
        f.write("5")


def _proc_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} (the memory figure needs Linux)")


async def bench(row_counts: list[int], by: str, repeat: int) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for n in row_counts:
        runs = await _measure(n, by, repeat)
        row: dict[str, Any] = {"rows": n}
        for name, samples in runs.items():
            row[name] = {k: statistics.median(s[k] for s in samples)
                         for k in ("report_s", "loop_stall_s", "healthz_max_s", "peak_rss_growth_mib")}
            row[name]["healthz_errors"] = sum(s["healthz_errors"] for s in samples)
        s, b = row["sql"], row["baseline"]
        row["stall_ratio"] = s["loop_stall_s"] / b["loop_stall_s"] if b["loop_stall_s"] > 0 else 0.0
        row["time_ratio"] = s["report_s"] / b["report_s"] if b["report_s"] > 0 else 0.0
        row["met"] = (row["stall_ratio"] <= 0.1 and row["time_ratio"] <= 1.0
                      and s["healthz_errors"] == 0 and b["healthz_errors"] == 0)
        results.append(row)
    return {"by": by, "repeat": repeat, "results": results}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench usage", description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default="10000,100000,300000", help="comma-separated row counts")
    ap.add_argument("--by", default="route", choices=GROUPS)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = ap.parse_args(argv)
    counts = [int(x) for x in args.rows.split(",") if x.strip()]
    res = asyncio.run(bench(counts, args.by, max(1, args.repeat)))
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"usage report --by {args.by}, medians of {res['repeat']} runs")
        print(f"{'rows':>8} {'':9}{'report (s)':>11}{'loop stall (ms)':>17}{'healthz max (ms)':>18}"
              f"{'peak RSS +MiB':>15}")
        for r in res["results"]:
            for name in ("baseline", "sql"):
                m = r[name]
                print(f"{r['rows']:>8} {name:9}{m['report_s']:11.3f}{m['loop_stall_s'] * 1000:17.1f}"
                      f"{m['healthz_max_s'] * 1000:18.1f}{m['peak_rss_growth_mib']:15.1f}")
            print(f"{'':8} ratio sql/baseline: stall {r['stall_ratio']:.3f} (goal <= 0.1), time {r['time_ratio']:.3f} "
                  f"(goal <= 1.0): {'met' if r['met'] else 'NOT met'}")
    return 0 if all(r["met"] for r in res["results"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
