"""Timing for the control loop, as pure functions of a random source.

Heartbeats are jittered *below* the interval (80-100 %), so 10,000 nodes that started together
spread out, and network latency never pushes a healthy node past the coordinator's deadline.
Retries after UNAVAILABLE back off exponentially with full jitter, capped, so a restarted
coordinator is not hit by every node in the same instant.
"""

from __future__ import annotations

import random

MIN_JITTER = 0.8


def jittered_interval(interval_s: float, rng: random.Random) -> float:
    return interval_s * rng.uniform(MIN_JITTER, 1.0)


def backoff_delay(attempt: int, rng: random.Random, *, base_s: float = 0.5, cap_s: float = 30.0) -> float:
    """Delay before retry number `attempt` (1, 2, ...): uniform in [base/2, min(cap, base * 2^(attempt-1))]."""
    ceiling = min(cap_s, base_s * (2 ** max(0, attempt - 1)))
    return rng.uniform(min(base_s / 2, ceiling), ceiling)
