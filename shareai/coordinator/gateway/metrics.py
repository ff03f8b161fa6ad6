"""Prometheus metrics in the text exposition format, without a client library.

The gateway needs a handful of labelled counters and histograms; a dictionary per metric keyed by
the label values is all that takes, and it keeps the hot path to one dict update per observation.
Gauges are read at scrape time from a callback, so they are never stale.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    parts = []
    for n, v in zip(names, values, strict=True):
        escaped = v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        parts.append(f'{n}="{escaped}"')
    return "{" + ",".join(parts) + "}"


class Counter:
    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.label_names = name, help, labels
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, *labels: str, by: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + by

    def get(self, *labels: str) -> float:
        return self.values.get(labels, 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.label_names, labels)} {value:g}"


class Histogram:
    def __init__(self, name: str, help: str, labels: tuple[str, ...] = (),
                 buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.name, self.help, self.label_names, self.buckets = name, help, labels, buckets
        # per label set: [count per bucket (non-cumulative, +Inf last)], sum, count
        self.values: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def observe(self, value: float, *labels: str) -> None:
        entry = self.values.get(labels)
        if entry is None:
            entry = self.values[labels] = ([0] * (len(self.buckets) + 1), [0.0, 0.0])
        entry[0][bisect.bisect_left(self.buckets, value)] += 1
        entry[1][0] += value
        entry[1][1] += 1

    def count(self, *labels: str) -> int:
        entry = self.values.get(labels)
        return int(entry[1][1]) if entry else 0

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        names = (*self.label_names, "le")
        for labels, (counts, (total, n)) in sorted(self.values.items()):
            running = 0
            for bound, c in zip((*self.buckets, float("inf")), counts, strict=True):
                running += c
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                yield f"{self.name}_bucket{_labels(names, (*labels, le))} {running}"
            base = _labels(self.label_names, labels)
            yield f"{self.name}_sum{base} {total:g}"
            yield f"{self.name}_count{base} {int(n)}"


class Gauge:
    def __init__(self, name: str, help: str, read: Callable[[], float]) -> None:
        self.name, self.help, self.read = name, help, read

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        yield f"{self.name} {self.read():g}"


class MetricsRegistry:
    """Everything `/metrics` shows; other subsystems may `register` their own metrics here."""

    def __init__(self) -> None:
        self._metrics: list[Counter | Histogram | Gauge] = []

    def register(self, metric: Counter | Histogram | Gauge) -> None:
        self._metrics.append(metric)

    def render(self) -> str:
        return "\n".join(line for m in self._metrics for line in m.render()) + "\n"


class GatewayMetrics:
    def __init__(self, registry: MetricsRegistry, open_circuits: Callable[[], float],
                 inflight: Callable[[], float]) -> None:
        self.requests = Counter("shareai_gateway_requests_total", "Requests answered, by model, route and status.",
                                ("model", "route", "status"))
        self.attempts = Counter("shareai_gateway_attempts_total", "Upstream attempts, by route and outcome.",
                                ("route", "outcome"))
        self.failovers = Counter("shareai_gateway_failovers_total",
                                 "Times a request moved on to its next target, by model.", ("model",))
        self.latency = Histogram("shareai_gateway_request_duration_seconds",
                                 "Time from request to the last byte of the answer.", ("model", "route"))
        self.ttft = Histogram("shareai_gateway_time_to_first_token_seconds",
                              "Time from request to the first byte from the upstream.", ("model", "route"))
        for m in (self.requests, self.attempts, self.failovers, self.latency, self.ttft):
            registry.register(m)
        registry.register(Gauge("shareai_gateway_open_circuits", "Targets whose circuit breaker is open now.",
                                open_circuits))
        registry.register(Gauge("shareai_gateway_inflight_requests", "Upstream requests in flight.", inflight))
