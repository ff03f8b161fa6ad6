"""The gateway benchmark's honesty: errors are counted and fail its verdicts, targets are measured
interleaved, and the peer (LiteLLM) is the version the docs report."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bench.gateway_bench import LITELLM_VERSION, _aiohttp_load, combine, schedule, verdicts

DOCS = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


@pytest.fixture
async def refusing_server() -> AsyncIterator[str]:
    """Answers every request at once with 401, the fastest thing a gateway can do."""

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "Incorrect API key provided."}}, status=401)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", refuse)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_the_load_client_counts_every_non_2xx_and_transport_error(refusing_server: str) -> None:
    r = await _aiohttp_load(refusing_server, "sk-wrong", 4, 0.3)
    assert r["requests"] > 0 and r["errors"] == r["requests"]
    with socket.socket() as s:  # a port nobody listens on: connection refused on every request
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    r = await _aiohttp_load(closed, "k", 2, 0.2)
    assert r["requests"] > 0 and r["errors"] == r["requests"]


def _measurement(rps: float, errors: int = 0, p50: float = 0.5) -> dict[str, float]:
    return {"rps": rps, "p50_ms": p50, "p99_ms": 2 * p50, "requests": 1000, "errors": errors, "rounds": 1}


def test_fast_4xx_never_meets_a_goal() -> None:
    clean = {"direct_c1": _measurement(9000, p50=0.1), "direct_c32": _measurement(18000),
             "gateway_c1": _measurement(1500, p50=0.4), "gateway_c32": _measurement(2600),
             "litellm_c1": _measurement(90, p50=10), "litellm_c32": _measurement(90)}
    summary = {"added_p50_ms": 0.3, "gateway_rps": 2600.0, "gateway_vs_litellm_rps": 2600 / 90}
    assert all(ok for _, ok, _ in verdicts(clean, summary, 32))
    # The same figures, but every gateway answer under load was a 4xx: every goal it touches fails.
    refused = {**clean, "gateway_c32": _measurement(50000, errors=1000)}
    summary = {**summary, "gateway_rps": 50000.0, "gateway_vs_litellm_rps": 50000 / 90}
    goals = {name: (ok, why) for name, ok, why in verdicts(refused, summary, 32)}
    assert not goals[">= 2500 req/s"][0] and "gateway_c32 1000 of 1000" in goals[">= 2500 req/s"][1]
    assert not goals[">= 25x LiteLLM"][0] and not goals["every request answered 2xx"][0]
    assert goals["p50 added <= 0.4 ms"][0]  # measured at c=1 without errors: still valid
    # One error anywhere is enough.
    one = {**clean, "litellm_c1": _measurement(90, errors=1, p50=10)}
    assert not {n: ok for n, ok, _ in verdicts(one, {**summary, "gateway_rps": 2600.0,
                                                      "gateway_vs_litellm_rps": 2600 / 90}, 32)}[
        "every request answered 2xx"]


def test_targets_are_interleaved_and_medians_reported() -> None:
    rounds = schedule(["direct", "gateway", "litellm"], 6)
    assert all(sorted(r) == ["direct", "gateway", "litellm"] for r in rounds)
    assert [r[0] for r in rounds] == ["direct", "gateway", "litellm"] * 2  # nobody always runs first
    merged = combine([_measurement(100), _measurement(3000, errors=2), _measurement(200)])
    assert merged["rps"] == 200 and merged["errors"] == 2 and merged["requests"] == 3000


def test_litellm_is_pinned_to_the_version_the_docs_report() -> None:
    named = set(re.findall(r"`litellm\[proxy\]` (\d+\.\d+\.\d+)", DOCS.read_text()))
    assert named == {LITELLM_VERSION}
    source = (Path(__file__).resolve().parents[2] / "bench" / "gateway_bench.py").read_text()
    assert 'f"litellm[proxy]=={LITELLM_VERSION}"' in source
