"""Sign-in attempt limiting: failed attempts per email and per client address in a sliding window.

    limiter = SigninLimiter(max_failures=5, window_s=300, clock=time.time)   # per address: 4 x 5
    wait = limiter.blocked(email, address)      # seconds to wait, 0.0 when an attempt may proceed
    limiter.failed(email, address)              # counted BEFORE the password is checked (see below)
    limiter.succeeded(email, address)           # it was right: clears the email's failures, takes
                                                # back the address's one

Each attempt counts as a failure before its (slow, awaited) password check, with no `await` between
`blocked` and `failed`: a burst of concurrent guesses cannot all pass the check before any of them
is counted.

Both keys count: guessing many passwords for one email from many addresses, or many emails from
one address, is stopped alike. An address gets `ADDRESS_FACTOR` times the email's allowance (an
office behind one NAT address has several people mistyping). The arithmetic is a pure function of `now`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_FAILURES = 5
ADDRESS_FACTOR = 4
WINDOW_S = 300.0
_MAX_TRACKED = 100_000  # keys kept at most; the oldest are forgotten first


def wait_s(failures: deque[float], now: float, *, max_failures: int, window_s: float) -> float:
    """Pure: drops failures older than the window; the seconds until another attempt is allowed."""
    while failures and failures[0] <= now - window_s:
        failures.popleft()
    if len(failures) < max_failures:
        return 0.0
    return failures[len(failures) - max_failures] + window_s - now


class SigninLimiter:
    def __init__(self, *, max_failures: int = MAX_FAILURES, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _keys(self, email: str, address: str) -> tuple[str, str]:
        return f"email:{email.strip().lower()}", f"addr:{address}"

    def blocked(self, email: str, address: str) -> float:
        now = self._clock()
        by_email, by_address = self._keys(email, address)
        return max(
            wait_s(self._failures.get(by_email, deque()), now, max_failures=self.max_failures, window_s=self.window_s),
            wait_s(self._failures.get(by_address, deque()), now, max_failures=self.max_failures * ADDRESS_FACTOR,
                   window_s=self.window_s))

    def failed(self, email: str, address: str) -> None:
        now = self._clock()
        for k in self._keys(email, address):
            self._failures.setdefault(k, deque()).append(now)
        while len(self._failures) > _MAX_TRACKED:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, email: str, address: str) -> None:
        by_email, by_address = self._keys(email, address)
        self._failures.pop(by_email, None)
        failures = self._failures.get(by_address)
        if failures:
            failures.pop()
