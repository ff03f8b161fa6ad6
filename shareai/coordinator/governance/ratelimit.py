"""Per-minute rate limits as pure arithmetic over sliding windows, with an injected `now`.

    window = SlidingWindow(limit=60)             # 60 units in any 60 seconds
    if window.room(now) >= 1:
        entry = window.add(now, 1)
    window.adjust(entry, 0)                      # tokens: settle the estimate to what was used

A sliding window log is exact: no 60-second span ever holds more than `limit` units, whatever
the arrival pattern (a token bucket refills continuously and lets a burst overshoot a little).
The check and the add happen without an `await` in between (`OrgGovernor.admit`), so on one event
loop L-per-minute under 3L concurrent requests admits exactly L. Memory is one small entry per
admitted request still inside the window.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

WINDOW_S = 60.0


@dataclass(slots=True)
class WindowEntry:
    ts: float
    amount: int
    live: bool = True


class SlidingWindow:
    def __init__(self, limit: int, window_s: float = WINDOW_S) -> None:
        self.limit = limit
        self.window_s = window_s
        self._entries: deque[WindowEntry] = deque()
        self._used = 0

    def _prune(self, now: float) -> None:
        horizon = now - self.window_s
        while self._entries and self._entries[0].ts <= horizon:
            entry = self._entries.popleft()
            if entry.live:
                self._used -= entry.amount
            entry.live = False

    def used(self, now: float) -> int:
        self._prune(now)
        return self._used

    def room(self, now: float) -> int:
        return self.limit - self.used(now)

    def add(self, now: float, amount: int) -> WindowEntry:
        self._prune(now)
        entry = WindowEntry(now, amount)
        self._entries.append(entry)
        self._used += amount
        return entry

    def adjust(self, entry: WindowEntry, amount: int) -> None:
        """Change what an admitted entry counts (an estimate settled to the real figure)."""
        if entry.live:
            self._used += amount - entry.amount
        entry.amount = amount

    def wait_for(self, now: float, need: int) -> float:
        """Seconds until `need` more units fit (0 if they fit now; the full window if they never will)."""
        self._prune(now)
        if need > self.limit:
            return self.window_s
        excess = self._used + need - self.limit
        if excess <= 0:
            return 0.0
        freed = 0
        for entry in self._entries:
            freed += entry.amount
            if freed >= excess:
                return max(0.0, entry.ts + self.window_s - now)
        return self.window_s

    def reset_in(self, now: float) -> float:
        """Seconds until the window is back to its initial state (OpenAI's `x-ratelimit-reset-*`)."""
        self._prune(now)
        if not self._entries:
            return 0.0
        return max(0.0, self._entries[-1].ts + self.window_s - now)


def format_reset(seconds: float) -> str:
    """OpenAI's duration style for `x-ratelimit-reset-*`: `20ms`, `1.5s`, `6m0s`."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        text = f"{seconds:.3f}".rstrip("0").rstrip(".")
        return f"{text}s"
    minutes, rest = divmod(math.ceil(seconds), 60)
    return f"{minutes}m{rest}s"


@dataclass(frozen=True, slots=True)
class RateState:
    """The tightest of the windows of one dimension (requests or tokens) after a decision."""

    limit: int
    remaining: int
    reset_s: float


def tightest(windows: list[SlidingWindow], now: float) -> RateState | None:
    best: RateState | None = None
    for w in windows:
        state = RateState(w.limit, max(0, w.room(now)), w.reset_in(now))
        if best is None or state.remaining < best.remaining:
            best = state
    return best


def rate_headers(requests: RateState | None, tokens: RateState | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    for kind, state in (("requests", requests), ("tokens", tokens)):
        if state is None:
            continue
        headers[f"x-ratelimit-limit-{kind}"] = str(state.limit)
        headers[f"x-ratelimit-remaining-{kind}"] = str(state.remaining)
        headers[f"x-ratelimit-reset-{kind}"] = format_reset(state.reset_s)
    return headers
