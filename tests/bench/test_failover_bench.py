"""The failover benchmark's arithmetic: what counts as recovered, paid, and an error."""

from __future__ import annotations

from bench.failover_bench import Sample, summarise


def _ok(start: float, latency: float, route: str, attempts: int = 1) -> Sample:
    return Sample(start, start + latency, 200, attempts, route)


def test_recovery_figures_from_synthetic_samples() -> None:
    before = [_ok(t / 10, 0.01, "a") for t in range(10)]                  # p50 10 ms, all on A
    in_flight = [_ok(1.0, 0.3, "b", attempts=2), _ok(1.0, 0.35, "b", attempts=2)]  # paid, land on B
    slow = [_ok(1.3 + i / 100, 0.05, "b") for i in range(5)]              # first window still slow
    after = [_ok(1.6 + i / 100, 0.01, "b") for i in range(20)]
    fig = summarise(before + in_flight + slow + after, kill_t=1.05, window_s=0.25)
    assert fig["client_errors"] == 0 and fig["before_kill_on_victim"] == 10
    assert abs(fig["p50_before_ms"] - 10) < 1e-6
    assert abs(fig["first_success_elsewhere_s"] - 0.25) < 1e-9           # 1.30 - 1.05
    assert fig["paid_failed_attempt"] == 2 and fig["max_attempts"] == 2
    assert abs(fig["last_paid_s"] - 0.30) < 1e-9
    # Windows after the kill: (1.05, 1.30] p50 300 ms, (1.30, 1.55] 50 ms, (1.55, 1.80] 10 ms: normal
    # (<= 1.5 x 10 ms) from the end of the third window.
    assert abs(fig["p50_normal_after_s"] - 0.75) < 1e-9
    assert fig["last_request_started_on_victim_s"] is None


def test_errors_and_no_survivor_are_reported() -> None:
    samples = [_ok(0.0, 0.01, "a"), Sample(1.1, 1.2, 502, 2, "b"), Sample(1.1, 1.3, 0, 0, "")]
    fig = summarise(samples, kill_t=1.0)
    assert fig["client_errors"] == 2
    assert fig["first_success_elsewhere_s"] is None and fig["p50_normal_after_s"] is None
