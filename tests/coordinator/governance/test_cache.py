"""Cache keys, policies, TTL and the byte-bounded LRU, with an injected clock."""

from __future__ import annotations

from typing import Any

from shareai.coordinator.governance.cache import ResponseCache, cache_key, is_deterministic
from shareai.coordinator.governance.governor import OrgGovernor
from shareai.coordinator.interfaces import CachedResponse, Principal
from tests.coordinator.governance.conftest import Clock


def _req(**extra: Any) -> dict[str, Any]:
    return {"model": "gemma", "messages": [{"role": "user", "content": "hi"}], **extra}


def _resp(text: str = "hello") -> CachedResponse:
    return CachedResponse(body={"id": "x", "choices": [{"message": {"role": "assistant", "content": text}}]},
                          route="provider-a")


def test_key_ignores_delivery_fields_but_not_sampling() -> None:
    base = cache_key("acme", "all", _req(temperature=0))
    assert base == cache_key("acme", "all", _req(temperature=0, stream=True, stream_options={"include_usage": True},
                                                 user="u1", top_p=None))
    assert base != cache_key("acme", "all", _req(temperature=0.5))
    assert base != cache_key("acme", "all", _req(temperature=0, max_tokens=5))
    assert base != cache_key("other-org", "all", _req(temperature=0))
    # Message order is part of the conversation; key order inside the JSON objects is not.
    two = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    swapped = cache_key("acme", "all", {"model": "gemma", "messages": two[::-1], "temperature": 0})
    assert cache_key("acme", "all", {"model": "gemma", "messages": two, "temperature": 0}) != swapped
    assert cache_key("acme", "all", {"temperature": 0, "messages": [{"content": "hi", "role": "user"}],
                                     "model": "gemma"}) == base


def test_policies() -> None:
    assert cache_key("acme", "off", _req(temperature=0)) is None
    assert cache_key("acme", "deterministic", _req()) is None
    assert cache_key("acme", "deterministic", _req(temperature=0.7)) is None
    assert cache_key("acme", "deterministic", _req(temperature=0)) is not None
    assert cache_key("acme", "deterministic", _req(temperature=0.7, seed=42)) is not None
    assert cache_key("acme", "all", _req(temperature=0.7)) is not None
    assert not is_deterministic(_req(temperature=False, seed=True))


def test_ttl_expiry() -> None:
    clock = Clock(0.0)
    cache = ResponseCache(1 << 20, clock=clock)
    assert cache.put("k", _resp(), ttl_s=10)
    clock.advance(9.9)
    assert cache.get("k") == _resp()
    clock.advance(0.1)
    assert cache.get("k") is None
    assert (cache.hits, cache.misses, len(cache), cache.bytes) == (1, 1, 0, 0)


def test_lru_is_bounded_in_bytes_and_evicts_least_recently_used() -> None:
    clock = Clock(0.0)
    probe = ResponseCache(1 << 20, clock=clock)
    probe.put("a", _resp("x" * 100), ttl_s=60)
    size = probe.bytes
    cache = ResponseCache(3 * size, clock=clock)
    for k in ("a", "b", "c"):
        assert cache.put(k, _resp("x" * 100), ttl_s=60)
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("d", _resp("x" * 100), ttl_s=60)
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("d") is not None
    assert cache.bytes <= cache.max_bytes and cache.evictions == 1
    assert not cache.put("huge", _resp("x" * (4 * size)), ttl_s=60)


def test_governor_cache_follows_the_principal_policy(governance: OrgGovernor) -> None:
    cached = Principal(key_id="k1", org="acme", cache_mode="deterministic", cache_ttl_s=60)
    uncached = Principal(key_id="k2", org="acme", cache_mode="off")
    governance.cache_put(cached, _req(temperature=0, stream=True), _resp())
    assert governance.cache_get(cached, _req(temperature=0)) == _resp()
    assert governance.cache_get(uncached, _req(temperature=0)) is None
    other_org = Principal(key_id="k3", org="beta", cache_mode="all", cache_ttl_s=60)
    assert governance.cache_get(other_org, _req(temperature=0)) is None
