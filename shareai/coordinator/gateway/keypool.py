"""A provider's pool of API keys, rotated when a key is refused (401) or throttled (429).

A refused key is parked for a long time (it is probably revoked), a throttled one for the
provider's `retry-after` or a short default. `pick(now)` returns the current key if it is usable,
else the next usable one; when every key is parked it still returns the one that frees up first,
because trying a parked key beats failing without trying.
"""

from __future__ import annotations

PARK_UNAUTHORIZED_S = 300.0
PARK_THROTTLED_S = 10.0


class KeyPool:
    def __init__(self, keys: list[str]) -> None:
        self.keys = list(keys)
        self._cursor = 0
        self._parked_until = [0.0] * len(self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def pick(self, now: float, exclude: frozenset[str] = frozenset()) -> str | None:
        if not self.keys:
            return None
        n = len(self.keys)
        for step in range(n):
            i = (self._cursor + step) % n
            if self._parked_until[i] <= now and self.keys[i] not in exclude:
                self._cursor = i
                return self.keys[i]
        candidates = [i for i in range(n) if self.keys[i] not in exclude]
        if not candidates:
            return None
        i = min(candidates, key=lambda j: self._parked_until[j])
        return self.keys[i]

    def penalise(self, key: str, status: int, now: float, retry_after: float | None = None) -> None:
        """Park `key` and move the cursor past it."""
        try:
            i = self.keys.index(key)
        except ValueError:
            return
        if status == 401:
            park = PARK_UNAUTHORIZED_S
        else:
            park = retry_after if retry_after is not None and retry_after > 0 else PARK_THROTTLED_S
        self._parked_until[i] = now + park
        if self._cursor == i:
            self._cursor = (i + 1) % len(self.keys)
