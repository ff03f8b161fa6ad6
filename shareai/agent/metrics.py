"""The agent's Prometheus metrics, written in the text exposition format (no client library needed).

Counters and histograms are kept here, by model; gauges (queue depth, busy slots) are read from the
pools at scrape time so they can never drift from the truth::

    shareai_agent_requests_total{model,endpoint,status}
    shareai_agent_prompt_tokens_total{model}      shareai_agent_completion_tokens_total{model}
    shareai_agent_queue_depth{model}              shareai_agent_slots_busy{model}   shareai_agent_slots{model}
    shareai_agent_time_to_first_token_seconds{model}  (histogram)
    shareai_agent_tokens_per_second{model}            (histogram, decode speed after the first token)
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence

from shareai.agent.slots import ModelLoad

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TPS_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 250.0, 500.0)

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def _num(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


class Histogram:
    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def lines(self, name: str, labels: Labels) -> Iterable[str]:
        cumulative = 0
        for bound, n in zip(self.buckets, self.counts, strict=False):
            cumulative += n
            yield f"{name}_bucket{_labels((*labels, ('le', _num(bound))))} {cumulative}"
        yield f"{name}_bucket{_labels((*labels, ('le', '+Inf')))} {self.count}"
        yield f"{name}_sum{_labels(labels)} {_num(self.sum)}"
        yield f"{name}_count{_labels(labels)} {self.count}"


class AgentMetrics:
    def __init__(self) -> None:
        self.requests: dict[Labels, int] = defaultdict(int)
        self.prompt_tokens: dict[str, int] = defaultdict(int)
        self.completion_tokens: dict[str, int] = defaultdict(int)
        self.ttft: dict[str, Histogram] = {}
        self.tps: dict[str, Histogram] = {}

    def request(self, model: str, endpoint: str, status: int) -> None:
        self.requests[(("model", model), ("endpoint", endpoint), ("status", str(status)))] += 1

    def tokens(self, model: str, prompt: int, completion: int) -> None:
        self.prompt_tokens[model] += prompt
        self.completion_tokens[model] += completion

    def first_token(self, model: str, seconds: float) -> None:
        self.ttft.setdefault(model, Histogram(TTFT_BUCKETS)).observe(seconds)

    def decode_speed(self, model: str, tokens_per_second: float) -> None:
        self.tps.setdefault(model, Histogram(TPS_BUCKETS)).observe(tokens_per_second)

    def render(self, loads: Sequence[ModelLoad]) -> str:
        out: list[str] = []

        def family(name: str, kind: str, help_: str) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")

        family("shareai_agent_requests_total", "counter", "Generation requests by model, endpoint and HTTP status.")
        out.extend(f"shareai_agent_requests_total{_labels(k)} {v}" for k, v in sorted(self.requests.items()))
        for name, data, help_ in (
            ("shareai_agent_prompt_tokens_total", self.prompt_tokens, "Prompt tokens processed."),
            ("shareai_agent_completion_tokens_total", self.completion_tokens, "Completion tokens generated."),
        ):
            family(name, "counter", help_)
            out.extend(f"{name}{_labels((('model', m),))} {v}" for m, v in sorted(data.items()))
        for name, attr, help_ in (
            ("shareai_agent_queue_depth", "queue_depth", "Requests waiting for a slot."),
            ("shareai_agent_slots_busy", "busy", "Slots running a generation."),
            ("shareai_agent_slots", "slots", "Slots (model instances) loaded."),
        ):
            family(name, "gauge", help_)
            out.extend(f"{name}{_labels((('model', ld.name),))} {getattr(ld, attr)}" for ld in loads)
        for name, hists, help_ in (
            ("shareai_agent_time_to_first_token_seconds", self.ttft, "Time from request to first token."),
            ("shareai_agent_tokens_per_second", self.tps, "Decode speed of a request after its first token."),
        ):
            family(name, "histogram", help_)
            for model, hist in sorted(hists.items()):
                out.extend(hist.lines(name, (("model", model),)))
        return "\n".join(out) + "\n"
