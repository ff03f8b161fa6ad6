"""Forwarding with failover: walk the ordered targets until one answers.

    for target in ordered targets:              (the policy's order is the failover sequence)
        for key in the provider's key pool:     (401/429 rotate to the next key of the same provider)
            attempt ── 2xx ────────────────▶ done
                    ── 400 unsupported ────▶ next target (this target lacks a feature; another may not)
                    ── 400/413/422 ────────▶ the client's mistake: passed through, no failover
                    ── connect error, timeout before the first byte, 5xx, 429 ──▶ next target

When the targets are exhausted, the answer says what happened to them:

    every target refused as unsupported         the last refusal (a 400 naming the parameter)
    every other failure was 429 / 503 (busy)    429 if any said 429, else 503, with the smallest
                                                `retry-after` they gave (a full node queue, a
                                                rate-limited provider, a draining node: retry later)
    all timed out                               504
    anything else (a target really broke)       502

Which 400s move on: exactly those whose OpenAI error body has `code` `unsupported_parameter` or
`unsupported_value`, what a node says for a parameter or value it cannot honour (`tools`, `n` > 1,
a schema keyword its grammar cannot enforce) and what OpenAI says for a parameter a model lacks.
Every other 400 (`invalid_value`, `invalid_type`, an invalid JSON schema, no code, a body that is not
JSON), 413 and 422 is the client's mistake and passes through at once. When every target refused
the request as unsupported, the last refusal is the answer (a 400 naming the parameter); when some
other failure is among them, the answer follows those failures (table above). Refusals never count
against a circuit breaker.

Streams commit to a target only once its first body bytes arrived: until then a stream fails over
like any request; after that, the caller relays it and an error can only end it (SSE error event).
Every attempt has a deadline (the target's `timeout_s`); circuit breakers and EWMA statistics are
updated from each outcome.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from shareai.coordinator.gateway.health import RouteHealth
from shareai.coordinator.gateway.metrics import GatewayMetrics
from shareai.coordinator.gateway.targets import PATHS, Target
from shareai.wire import jsonc
from shareai.wire.errors import NoTargetAvailable, OpenAIError, RateLimited, UpstreamFailed, UpstreamTimeout

PASS_THROUGH = frozenset({400, 413, 422})  # deterministic client errors: another target would say the same
UNSUPPORTED_CODES = frozenset({"unsupported_parameter", "unsupported_value"})  # 400s that move on
ROTATE_KEY = frozenset({401, 429})
BUSY = frozenset({429, 503})  # the target is there but cannot take the request now: retry later


@dataclass(slots=True)
class Trace:
    """What happened to one request, for headers, metrics and the usage record."""

    model: str
    started: float = field(default_factory=time.monotonic)
    attempts: int = 0
    route: str = ""
    ttft_s: float | None = None
    failures: list[str] = field(default_factory=list)
    # The model as a metrics label: only names the catalog knows, so clients cannot grow /metrics.
    label: str = "unknown"
    accounted: bool = False  # the usage record is written (once per request, whatever ends it)

    def headers(self) -> dict[str, str]:
        h = {"x-shareai-attempts": str(self.attempts)}
        if self.route:
            h["x-shareai-route"] = self.route
        return h


@dataclass(slots=True)
class Reply:
    """A complete upstream answer (non-streaming, or a passed-through client error)."""

    target: Target
    status: int
    body: bytes
    content_type: str


@dataclass(slots=True)
class StreamStart:
    """An upstream stream that has sent its first bytes; the caller relays and closes `response`."""

    target: Target
    response: aiohttp.ClientResponse
    first: bytes


class _Failed(Exception):
    def __init__(self, reason: str, *, status: int | None = None, timeout: bool = False,
                 retry_after: float | None = None, count_for_breaker: bool = True,
                 refusal: Reply | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.timeout = timeout
        self.retry_after = retry_after
        self.count_for_breaker = count_for_breaker
        self.refusal = refusal  # a 400 "unsupported" answer, the reply if every target says so


def unsupported_param(status: int, raw: bytes) -> str | None:
    """What a target said it does not support (the error's `param`, else its code) when `raw` is a
    400 with an unsupported-parameter/value code; None for any other answer."""
    if status != 400:
        return None
    try:
        decoded = jsonc.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or a hostile upstream's deep nesting
        return None
    err = decoded.get("error") if isinstance(decoded, dict) else None
    if not isinstance(err, dict) or err.get("code") not in UNSUPPORTED_CODES:
        return None
    param = err.get("param")
    return param if isinstance(param, str) and param else str(err["code"])


def _refusal(reply: Reply) -> _Failed | None:
    param = unsupported_param(reply.status, reply.body)
    if param is None:
        return None
    return _Failed(f"unsupported: {param}", status=reply.status, count_for_breaker=False, refusal=reply)


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date, or garbage: not used
    return seconds if seconds is not None and seconds >= 0 and seconds != float("inf") else None


def _busy(model: str, failures: list[_Failed], detail: str) -> OpenAIError:
    """Every target that failed was busy (429/503): the client hears it as such, with the soonest
    time any of them said it could take the request again."""
    waits = [f.retry_after for f in failures if f.retry_after is not None]
    retry_after = min(waits) if waits else None
    if any(f.status == 429 for f in failures):
        return RateLimited(f"Every route for '{model}' is busy or rate-limited; retry later ({detail}).",
                           retry_after=retry_after, code="routes_busy")
    headers = {} if retry_after is None else {"retry-after": str(max(1, math.ceil(retry_after)))}
    return NoTargetAvailable(f"Every route for '{model}' is unavailable right now; retry later ({detail}).",
                             code="routes_unavailable", headers=headers)


class Forwarder:
    def __init__(self, session: aiohttp.ClientSession, health: RouteHealth, metrics: GatewayMetrics) -> None:
        self.session = session
        self.health = health
        self.metrics = metrics

    async def unary(self, targets: list[Target], endpoint: str, body: dict[str, Any], trace: Trace) -> Reply:
        async def attempt(target: Target, key: str | None) -> Reply:
            async with asyncio.timeout(target.timeout_s):
                async with self._post(target, endpoint, body, key) as resp:
                    trace.ttft_s = time.monotonic() - trace.started
                    raw = await resp.read()
                    if resp.status >= 300 and resp.status not in PASS_THROUGH:
                        raise self._status_failure(resp.status, resp.headers)
                    reply = Reply(target, resp.status, raw, resp.content_type or "application/json")
                    refused = _refusal(reply)
                    if refused is not None:
                        raise refused
                    return reply
        return await self._walk(targets, trace, attempt)

    async def stream(self, targets: list[Target], endpoint: str, body: dict[str, Any],
                     trace: Trace) -> StreamStart | Reply:
        async def attempt(target: Target, key: str | None) -> StreamStart | Reply:
            resp: aiohttp.ClientResponse | None = None
            try:
                async with asyncio.timeout(target.timeout_s):
                    resp = await self._post(target, endpoint, body, key)
                    if resp.status >= 300:
                        raw = await resp.read()
                        resp.release()
                        if resp.status in PASS_THROUGH:
                            reply = Reply(target, resp.status, raw, resp.content_type or "application/json")
                            refused = _refusal(reply)
                            if refused is not None:
                                raise refused
                            return reply
                        raise self._status_failure(resp.status, resp.headers)
                    first = await resp.content.readany()
                if not first:
                    raise _Failed("closed before the first byte")
                trace.ttft_s = time.monotonic() - trace.started
                return StreamStart(target, resp, first)
            except BaseException:
                if resp is not None:
                    resp.close()
                raise
        return await self._walk(targets, trace, attempt)

    def _post(self, target: Target, endpoint: str, body: dict[str, Any], key: str | None) -> Any:
        self.health.check_fault(target.route)
        payload = dict(body)
        payload["model"] = target.upstream_model
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return self.session.post(target.base_url + PATHS[endpoint], data=jsonc.dumps_bytes(payload), headers=headers)

    @staticmethod
    def _status_failure(status: int, headers: Any) -> _Failed:
        return _Failed(f"HTTP {status}", status=status, retry_after=_retry_after(headers),
                       count_for_breaker=status >= 500)

    async def _walk(self, targets: list[Target], trace: Trace, attempt: Any) -> Any:
        if not targets:
            raise NoTargetAvailable(f"No route can serve '{trace.model}' right now.")
        health = self.health
        timeouts = 0
        refusals: list[Reply] = []
        broken: list[_Failed] = []  # failures other than refusals
        for i, target in enumerate(targets):
            if i > 0:
                self.metrics.failovers.inc(trace.model)
            tried: set[str] = set()
            while True:
                key = self.health.key_for(target, frozenset(tried))
                trace.attempts += 1
                trace.route = target.route
                stats = health.stats.get(target.route)
                stats.inflight += 1
                t0 = time.monotonic()
                failure: _Failed
                try:
                    result = await attempt(target, key)
                except TimeoutError:
                    failure = _Failed("timeout", timeout=True)
                except (aiohttp.ClientError, OSError) as exc:
                    failure = _Failed(f"connect: {type(exc).__name__}")
                except _Failed as exc:
                    failure = exc
                else:
                    elapsed = time.monotonic() - t0
                    if isinstance(result, StreamStart):
                        stats.observe(latency_ms=None, ttft_ms=elapsed * 1000)
                    elif result.status < 300:
                        stats.observe(latency_ms=elapsed * 1000, ttft_ms=None)
                    health.record_success(target.route)
                    self.metrics.attempts.inc(target.route, "ok")
                    return result
                finally:
                    stats.inflight -= 1
                self.metrics.attempts.inc(target.route, failure.reason.split(":")[0])
                trace.failures.append(f"{target.route}: {failure.reason}")
                timeouts += failure.timeout
                if failure.refusal is not None:
                    refusals.append(failure.refusal)
                else:
                    broken.append(failure)
                if failure.status in ROTATE_KEY and target.provider is not None and key is not None:
                    pool_size = health.refuse_key(target, key, failure.status or 0, failure.retry_after)
                    tried.add(key)
                    if len(tried) < pool_size:
                        continue  # same provider, next key
                if failure.count_for_breaker:
                    health.record_failure(target.route)
                break
        if refusals and len(refusals) == len(trace.failures):
            return refusals[-1]  # every target lacks something the request uses: the client hears what
        detail = "; ".join(trace.failures[-5:])
        if broken and all(f.status in BUSY for f in broken):
            raise _busy(trace.model, broken, detail)
        err: OpenAIError
        if timeouts == len(trace.failures):
            err = UpstreamTimeout(f"Every route for '{trace.model}' timed out ({detail}).")
        else:
            err = UpstreamFailed(f"Every route for '{trace.model}' failed ({detail}).")
        raise err
