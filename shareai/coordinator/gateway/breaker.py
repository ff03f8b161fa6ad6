"""Per-target circuit breaker: skip a target that keeps failing, let it back after a cooldown.

    closed ──(threshold consecutive failures)──▶ open ──(cooldown elapsed)──▶ half-open
      ▲                                                                          │
      └──────────────────── success (probe or trial request) ◀───────────────────┘
                             failure in half-open: open again, cooldown doubled (capped)

The breaker is pure arithmetic over `now` values the caller passes, so tests drive it with a fake
clock. What "half-open" means is the caller's choice: providers are probed with a request that
costs no tokens (`GET /models`), nodes are trusted because heartbeats already prove them alive.
"""

from __future__ import annotations

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"


class Breaker:
    def __init__(self, *, threshold: int = 3, cooldown_s: float = 10.0, max_cooldown_s: float = 300.0) -> None:
        if threshold < 1:
            raise ValueError("threshold must be >= 1")
        self.threshold = threshold
        self.base_cooldown_s = cooldown_s
        self.max_cooldown_s = max(max_cooldown_s, cooldown_s)
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.opened_at: float | None = None

    def state(self, now: float) -> str:
        if self.opened_at is None:
            return CLOSED
        if now - self.opened_at >= self.cooldown_s:
            return HALF_OPEN
        return OPEN

    def record_success(self, now: float) -> None:
        self.failures = 0
        self.opened_at = None
        self.cooldown_s = self.base_cooldown_s

    def record_failure(self, now: float) -> bool:
        """Count one failure; True when this failure opened (or re-opened) the circuit."""
        state = self.state(now)
        if state == HALF_OPEN:
            # The trial failed: stay away longer before the next one.
            self.cooldown_s = min(self.cooldown_s * 2, self.max_cooldown_s)
            self.opened_at = now
            return True
        if state == OPEN:
            return False
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = now
            return True
        return False
