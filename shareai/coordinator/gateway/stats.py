"""What the gateway learns about each target from its own traffic: EWMA latency, TTFT, in-flight.

The `fastest` policy reads the moving averages, `least-loaded` the in-flight counts. A target
with no measurement yet scores 0, so every target gets measured before one is preferred.
"""

from __future__ import annotations

from dataclasses import dataclass

ALPHA = 0.3  # weight of the newest sample: recent enough to follow a slowing provider, smooth enough not to flap


def ewma(previous: float | None, sample: float, alpha: float = ALPHA) -> float:
    return sample if previous is None else alpha * sample + (1 - alpha) * previous


@dataclass(slots=True)
class TargetStats:
    latency_ms: float | None = None
    ttft_ms: float | None = None
    inflight: int = 0

    def observe(self, *, latency_ms: float | None, ttft_ms: float | None) -> None:
        if latency_ms is not None:
            self.latency_ms = ewma(self.latency_ms, latency_ms)
        if ttft_ms is not None:
            self.ttft_ms = ewma(self.ttft_ms, ttft_ms)

    def speed_score(self, stream: bool) -> float:
        """Milliseconds the caller waits for what it cares about: the first token when streaming."""
        first, second = (self.ttft_ms, self.latency_ms) if stream else (self.latency_ms, self.ttft_ms)
        if first is not None:
            return first
        return second if second is not None else 0.0


class StatsBook:
    def __init__(self) -> None:
        self._by_route: dict[str, TargetStats] = {}

    def get(self, route: str) -> TargetStats:
        stats = self._by_route.get(route)
        if stats is None:
            stats = self._by_route[route] = TargetStats()
        return stats

    def inflight(self, route: str) -> int:
        stats = self._by_route.get(route)
        return stats.inflight if stats is not None else 0

    def total_inflight(self) -> int:
        return sum(s.inflight for s in self._by_route.values())
