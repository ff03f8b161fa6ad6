"""The gateway's exact-match response cache: normalised request -> full response, TTL, LRU by bytes.

    cache = ResponseCache(max_bytes=64 << 20, clock=time.monotonic)
    key = cache_key(org, request)                  # None when the org's policy says "do not cache"
    hit = cache.get(key)
    cache.put(key, CachedResponse(body, route), ttl_s=300)

The key is a SHA-256 of the canonical JSON of the request without the fields that do not change
the answer (`stream`, `stream_options`, `user`, ...), namespaced by org so one org's prompts never
reveal themselves to another through a hit. Policies: `off`; `deterministic` caches only requests
whose answer is reproducible (temperature 0, or a fixed seed); `all` caches everything.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shareai.coordinator.interfaces import CachedResponse

# Fields that change how the answer is delivered or labelled, not what it says.
_IGNORED = frozenset({"stream", "stream_options", "user", "metadata", "store", "service_tier"})
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def normalise(request: dict[str, Any]) -> dict[str, Any]:
    """The request as far as the answer depends on it: no delivery fields, no explicit nulls."""
    return {k: v for k, v in request.items() if k not in _IGNORED and v is not None}


def is_deterministic(request: dict[str, Any]) -> bool:
    temperature = request.get("temperature")
    seed = request.get("seed")
    zero = isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and temperature == 0
    return zero or (isinstance(seed, int) and not isinstance(seed, bool))


def cache_key(namespace: str, mode: str, request: dict[str, Any]) -> str | None:
    """The cache key of `request` under policy `mode`, or None when it must not be cached."""
    if mode == "off" or (mode == "deterministic" and not is_deterministic(request)):
        return None
    canonical = json.dumps(normalise(request), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: JSON allows a lone surrogate ("\ud800") that UTF-8 cannot encode; this keeps
    # such a prompt a distinct, stable key instead of an error (the encoding is one-to-one).
    return hashlib.sha256(f"{namespace}\x00{canonical}".encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(slots=True)
class _Entry:
    response: CachedResponse
    size: int
    expires_at: float


class ResponseCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        if entry.expires_at <= self._clock():
            self._drop(key)
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry.response

    def put(self, key: str, response: CachedResponse, *, ttl_s: float) -> bool:
        """Store a response; False when it is larger than the whole cache (never stored)."""
        size = len(json.dumps(response.body, separators=(",", ":"))) + len(response.route) + len(key)
        if size > self.max_bytes or ttl_s <= 0:
            return False
        if key in self._entries:
            self._drop(key)
        self._entries[key] = _Entry(response, size, self._clock() + ttl_s)
        self.bytes += size
        while self.bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)
            self.evictions += 1
        return True

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key)
        self.bytes -= entry.size
