"""Agent overhead: tokens/s and time to first token through `shareai-agent serve` vs llama-cpp-python.

    python -m bench agent [--model PATH] [--rounds 5] [--max-tokens 64] [--json]

Both paths run in the same invocation on the same GGUF, same settings, greedy sampling, one stream
at a time: the agent as a real `shareai-agent serve` process (its HTTP + SSE stack included, with
the client in this process), the baseline as `Llama.create_completion(stream=True)` in this
process. Rounds alternate direct / agent so that background load hits both alike, and each round
uses a new prompt prefix so that neither side answers from a warm KV cache. Reported: medians,
and agent/direct ratios (goal: >= 0.97 for tokens/s).

TTFT is request start to the first text; tokens/s is decode speed after the first token,
(tokens - 1) / (t_last - t_first).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from shareai.wire.sse import iter_events

MODEL_NAME = "bench-model"


@dataclass
class Sample:
    ttft_s: float
    tokens: int
    decode_tps: float  # (tokens - 1) / (t_last - t_first): the mean decode speed
    gap_tps: float  # 1 / median gap between text chunks: the same, robust to a noisy neighbour's spikes


def _sample(t0: float, stamps: list[float], tokens: int) -> Sample:
    if len(stamps) < 3 or tokens < 2 or stamps[-1] <= stamps[0]:
        raise RuntimeError(f"too few tokens to time ({tokens}); raise --max-tokens")
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return Sample(stamps[0] - t0, tokens, (tokens - 1) / (stamps[-1] - stamps[0]), 1 / statistics.median(gaps))


def prompt_for(round_no: int) -> str:
    # A base model continues a count for as long as it is asked: every run produces max_tokens.
    return f"Sequence {round_no}: 1, 2, 3, 4, 5, 6,"


def run_direct(llama: Any, prompt: str, max_tokens: int) -> Sample:
    t0 = time.perf_counter()
    stamps: list[float] = []
    tokens = 0
    for chunk in llama.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, stream=True):
        choice = chunk["choices"][0]
        if choice["finish_reason"] is None:
            tokens += 1  # without stop sequences the stream yields one chunk per token, then a final one
        if choice["text"]:
            stamps.append(time.perf_counter())
    return _sample(t0, stamps, tokens)


async def run_agent(http: aiohttp.ClientSession, url: str, prompt: str, max_tokens: int) -> Sample:
    body = {"model": MODEL_NAME, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0, "stream": True,
            "stream_options": {"include_usage": True}}
    t0 = time.perf_counter()
    stamps: list[float] = []
    tokens = 0
    async with http.post(f"{url}/v1/completions", json=body) as resp:
        resp.raise_for_status()
        async for data in iter_events(resp.content.iter_any()):
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            elif chunk["choices"] and chunk["choices"][0]["text"]:
                stamps.append(time.perf_counter())
    return _sample(t0, stamps, tokens)


async def start_agent(model: Path, n_ctx: int, n_gpu_layers: int) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shareai.agent.cli", "serve", "--model", str(model), "--model-name", MODEL_NAME,
        "--chat-format", "gemma", "--n-ctx", str(n_ctx), "--n-gpu-layers", str(n_gpu_layers), "--slots", "1",
        "--port", "0", "--log-level", "warning",
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(120):
            url = ""
            while not url:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    raise RuntimeError("the agent exited before listening")
                m = re.search(r"(http://[^ ]+):(\d+)/v1", line)
                if m:
                    url = f"{m.group(1)}:{m.group(2)}"
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
                while True:
                    async with http.get(f"{url}/health") as resp:
                        if resp.status == 200:
                            return proc, url
                    await asyncio.sleep(0.1)
    except BaseException:
        proc.kill()
        await proc.wait()
        raise


async def stop_agent(proc: asyncio.subprocess.Process) -> None:
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()


def summarize(samples: list[Sample]) -> dict[str, float]:
    return {
        "ttft_s": statistics.median(s.ttft_s for s in samples),
        "decode_tps": statistics.median(s.decode_tps for s in samples),
        "gap_tps": statistics.median(s.gap_tps for s in samples),
        "tokens": statistics.median(s.tokens for s in samples),
    }


async def bench(model: Path, rounds: int, max_tokens: int, n_ctx: int, n_gpu_layers: int | None) -> dict[str, Any]:
    import llama_cpp

    from shareai.agent.backends.llama import auto_gpu_layers

    layers = auto_gpu_layers(model) if n_gpu_layers is None else n_gpu_layers
    llama = llama_cpp.Llama(model_path=str(model), n_ctx=n_ctx, n_gpu_layers=layers, verbose=False)
    proc, url = await start_agent(model, n_ctx, layers)
    direct: list[Sample] = []
    agent: list[Sample] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http:
            run_direct(llama, prompt_for(-1), 8)  # warm-up: first-call allocations on both sides
            await run_agent(http, url, prompt_for(-1), 8)
            for i in range(rounds):
                direct.append(run_direct(llama, prompt_for(i), max_tokens))
                agent.append(await run_agent(http, url, prompt_for(i), max_tokens))
    finally:
        await stop_agent(proc)
        llama.close()
    d, a = summarize(direct), summarize(agent)
    return {
        "model": str(model), "rounds": rounds, "max_tokens": max_tokens, "n_ctx": n_ctx, "n_gpu_layers": layers,
        "direct": d, "agent": a,
        "ratio_tps": a["decode_tps"] / d["decode_tps"],
        "ratio_gap_tps": a["gap_tps"] / d["gap_tps"],
        "ratio_ttft": a["ttft_s"] / d["ttft_s"],
        "samples": {"direct": [asdict(s) for s in direct], "agent": [asdict(s) for s in agent]},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench agent", description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="bundled", help="GGUF path, or 'bundled' (default)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--n-ctx", type=int, default=2048)
    ap.add_argument("--n-gpu-layers", type=int, default=None, help="default: from free VRAM, as the agent does")
    ap.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = ap.parse_args(argv)
    if args.model == "bundled":
        from shareai.agent.bundled import bundled_model_path

        model = bundled_model_path()
    else:
        model = Path(args.model).expanduser()
    res = asyncio.run(bench(model, args.rounds, args.max_tokens, args.n_ctx, args.n_gpu_layers))
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    d, a = res["direct"], res["agent"]
    print(f"model {model.name}  rounds={args.rounds}  max_tokens={args.max_tokens}  n_gpu_layers={res['n_gpu_layers']}")
    print(f"{'':10}{'TTFT (ms)':>12}{'decode tok/s':>14}{'1/median gap':>14}")
    for name, r in (("direct", d), ("agent", a)):
        print(f"{name:10}{r['ttft_s'] * 1000:12.1f}{r['decode_tps']:14.2f}{r['gap_tps']:14.2f}")
    print(f"ratio agent/direct: tokens/s {res['ratio_tps']:.3f} (goal >= 0.97), by median gap "
          f"{res['ratio_gap_tps']:.3f}, TTFT {res['ratio_ttft']:.3f} (lower is better)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
