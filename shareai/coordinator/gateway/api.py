"""The OpenAI-compatible HTTP API of the coordinator, over providers and nodes.

Every generation request goes through the same pipeline:

    authenticate ─▶ read + validate body ─▶ model access ─▶ admit (limits, reservation)
      ─▶ cache lookup ─▶ candidates by policy ─▶ forward with failover ─▶ answer / relay stream
      ─▶ settle (or release) the reservation ─▶ record usage and metrics

What one request has got to travels in one `RequestContext`. The model's routes are looked up once
(`Catalog.lookup`): that one walk of the fleet says whether the model is known, bounds the price
admission reserves at, and is what the router orders. Usage is recorded for every request, answered
or not, so reports show failures per route too, stamped with the injected wall clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from shareai.coordinator.gateway.conform import conform_answer
from shareai.coordinator.gateway.forward import Forwarder, Reply, Trace
from shareai.coordinator.gateway.health import RouteHealth
from shareai.coordinator.gateway.metrics import GatewayMetrics
from shareai.coordinator.gateway.options import GatewayOptions
from shareai.coordinator.gateway.policy import RouteContext
from shareai.coordinator.gateway.requests import Parsed, parse_body
from shareai.coordinator.gateway.router import POLICY_HEADER, ROUTE_HEADER, Router
from shareai.coordinator.gateway.streaming import Cap, RelayResult, relay, replay_frames
from shareai.coordinator.gateway.targets import CHAT, COMPLETIONS, EMBEDDINGS, ModelRoutes, Target
from shareai.coordinator.interfaces import (
    Admission,
    Authenticator,
    CachedResponse,
    Governor,
    Principal,
    UsageRecord,
)
from shareai.wire import jsonc
from shareai.wire.errors import AccountingBacklog, ModelNotFound, OpenAIError, PermissionDenied, ServerError
from shareai.wire.http import bearer_token, json_response, read_json
from shareai.wire.sse import SSE_HEADERS

log = logging.getLogger(__name__)


def _usage(body: dict[str, Any] | None) -> tuple[int, int]:
    usage = (body or {}).get("usage") or {}
    if not isinstance(usage, dict):
        return 0, 0
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    return (prompt if isinstance(prompt, int) else 0), (completion if isinstance(completion, int) else 0)


@dataclass(slots=True)
class RequestContext:
    """One generation request as the pipeline gets through it: who asked, what, what it holds."""

    request: web.Request
    endpoint: str
    trace: Trace
    principal: Principal | None = None
    parsed: Parsed | None = None
    routes: ModelRoutes | None = None  # the one lookup of the model's routes
    admission: Admission | None = None
    # The body the cache keys on: the client's, plus the route pin when there is one.
    cache_request: dict[str, Any] = field(default_factory=dict)
    extra_headers: dict[str, str] = field(default_factory=dict)
    token_limited: bool = False  # a token quota or tpm applies: the completion cap is enforced

    def require(self) -> tuple[Principal, Parsed, Admission]:
        assert self.principal is not None and self.parsed is not None and self.admission is not None
        return self.principal, self.parsed, self.admission


def _cost_header(cost: float) -> str:
    return f"{cost:.10f}".rstrip("0").rstrip(".") or "0"


class GatewayAPI:
    def __init__(self, *, router: Router, forwarder: Forwarder, health: RouteHealth, authenticator: Authenticator,
                 governor: Governor, metrics: GatewayMetrics, settings: GatewayOptions, max_body_bytes: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.router = router
        self.forwarder = forwarder
        self.health = health
        self.clock = clock  # wall time, for usage records
        self.auth = authenticator
        self.governor = governor
        self.metrics = metrics
        self.settings = settings
        self.max_body_bytes = max_body_bytes
        # Optional governor extension: the current `x-ratelimit-*` headers without consuming anything,
        # for answers given before admission (a limited org gets them on every answer).

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_get("/v1/models", self.list_models)
        app.router.add_get("/v1/models/{model:.+}", self.get_model)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, CHAT)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, COMPLETIONS)

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, EMBEDDINGS)

    # -- models ---------------------------------------------------------------------------------

    def _rate_headers(self, principal: Principal) -> dict[str, str]:
        return self.governor.rate_headers(principal)

    async def list_models(self, request: web.Request) -> web.Response:
        principal = await self.auth.authenticate(bearer_token(request))
        names = self.router.catalog.model_names(principal)
        return json_response({"object": "list", "data": [_model_object(n) for n in names]},
                                 headers=self._rate_headers(principal))

    async def get_model(self, request: web.Request) -> web.Response:
        principal = await self.auth.authenticate(bearer_token(request))
        model = request.match_info["model"]
        if model not in self.router.catalog.model_names(principal):
            err = ModelNotFound(model)
            err.headers.update(self._rate_headers(principal))
            raise err
        return json_response(_model_object(model), headers=self._rate_headers(principal))

    # -- generation -----------------------------------------------------------------------------

    async def _generate(self, request: web.Request, endpoint: str) -> web.StreamResponse:
        ctx = RequestContext(request, endpoint, Trace(model=""))
        trace = ctx.trace
        try:
            return await self._pipeline(ctx)
        except OpenAIError as err:
            if ctx.admission is None and ctx.principal is not None:
                # Refused before admission (400, 403, 404, or by admission itself, whose 429 carries
                # its own headers): the limiter's current state, nothing consumed.
                for name, value in self._rate_headers(ctx.principal).items():
                    err.headers.setdefault(name, value)
            err.headers.update(ctx.extra_headers)
            err.headers.update(trace.headers())
            if not trace.accounted:
                self._account(ctx, err.status, None, 0.0, extra={"error": err.code})
            raise
        except asyncio.CancelledError:
            # The client went away and the server cancelled the handler (aiohttp handler_cancellation):
            # leaving the `async with` blocks closed the upstream request.
            if not trace.accounted:  # else a stream already booked and recorded itself
                self._account(ctx, 499, None, 0.0)
            raise
        except ConnectionError:
            # The client dropped the connection (mid-upload or mid-answer): nobody to answer.
            if not trace.accounted:
                self._account(ctx, 499, None, 0.0)
            raise
        except web.HTTPException:
            raise  # aiohttp's own answers (the error middleware shapes them)
        except Exception:
            # A bug, not the client's fault: logged with its traceback here, recorded (status 500, so
            # no request is invisible in reports), answered with an OpenAI-shaped 500 saying nothing.
            log.exception("unexpected error in %s %s", request.method, request.path)
            if not trace.accounted:
                self._account(ctx, 500, None, 0.0, extra={"error": "internal_error"})
            failure = ServerError("Internal server error.", code="internal_error")
            failure.headers.update(ctx.extra_headers)
            failure.headers.update(trace.headers())
            raise failure from None
        finally:
            # Whatever ended the request, nothing stays reserved: a no-op once settled.
            if ctx.admission is not None:
                ctx.admission.release()

    async def _pipeline(self, ctx: RequestContext) -> web.StreamResponse:
        request, endpoint, trace = ctx.request, ctx.endpoint, ctx.trace
        ctx.principal = principal = await self.auth.authenticate(bearer_token(request))
        body, parsed = parse_body(endpoint, await read_json(request, self.max_body_bytes),
                                  self.settings.default_max_tokens)
        ctx.parsed = parsed
        trace.model = parsed.model
        if principal.allowed_models is not None and parsed.model not in principal.allowed_models:
            raise PermissionDenied(f"This key may not use the model '{parsed.model}'.", param="model",
                                   code="model_not_allowed")
        catalog = self.router.catalog
        ctx.routes = routes = catalog.lookup(parsed.model, principal)
        if not routes.known:
            raise ModelNotFound(parsed.model)
        trace.label = parsed.model
        headers = request.headers
        policy = self.router.resolve_policy(principal, headers.get(POLICY_HEADER))
        # Reservations are upper bounds (prompt bytes plus overheads, the completion cap of every
        # choice, the dearest route's price), so a quota or `tpm` never lets more through than its limit.
        ctx.admission = admission = await self.governor.admit(
            principal, model=parsed.model, prompt_tokens=parsed.prompt_bound, max_tokens=parsed.completion_bound,
            max_price=catalog.max_price(routes))
        ctx.extra_headers.update(admission.headers)
        ctx.token_limited = admission.token_limited and endpoint != EMBEDDINGS
        if ctx.token_limited and not parsed.client_capped:
            # The reservation holds the default cap: the upstream is told, so it cannot write past it.
            body = {**body, "max_tokens": parsed.max_tokens}
        pin = headers.get(ROUTE_HEADER)
        # A pinned request asks for that route's answer: it only meets cache entries made by
        # requests pinned the same way (the pin joins the cache key), never another route's.
        ctx.cache_request = {**body, ROUTE_HEADER: pin} if pin else body
        if principal.cache_mode != "off":
            hit = self.governor.cache_get(principal, ctx.cache_request)
            if hit is not None:
                return await self._serve_cached(ctx, hit)
            ctx.extra_headers["x-shareai-cache"] = "miss"
        route_ctx = RouteContext(stream=parsed.stream, prompt_tokens=parsed.prompt_tokens,
                                 max_tokens=parsed.max_tokens, provider_capacity=self.settings.provider_capacity)
        targets = self.router.candidates(routes, principal=principal, endpoint=endpoint, policy=policy, pin=pin,
                                         ctx=route_ctx, body=body)
        if parsed.stream:
            upstream_body = {**body, "stream_options": {**(body.get("stream_options") or {}),
                                                        "include_usage": True}}
            return await self._stream(ctx, targets, upstream_body)
        reply = await self.forwarder.unary(targets, endpoint, body, trace)
        return self._answer(ctx, reply)

    def _overrun(self, ctx: RequestContext, route: str, used: int) -> dict[str, Any]:
        """Tokens booked above the reservation (an upstream that ignored max_tokens, or counted an
        image above its bound): booked in full all the same, logged, and marked on the usage record."""
        parsed, principal = ctx.parsed, ctx.principal
        if not ctx.token_limited or parsed is None or principal is None or used <= parsed.reserve_tokens:
            return {}
        over = used - parsed.reserve_tokens
        log.warning("quota overrun: a request used %d tokens, %d above its reservation of %d (org %s, key %s, "
                    "model %s, route %s)", used, over, parsed.reserve_tokens, principal.org, principal.key_id,
                    parsed.model, route)
        return {"overrun": over}

    def _answer(self, ctx: RequestContext, reply: Reply) -> web.Response:
        principal, parsed, admission = ctx.require()
        trace = ctx.trace
        try:
            decoded = jsonc.loads(reply.body)
        except (ValueError, RecursionError):  # not JSON, or nested past what Python decodes: passed on as is
            decoded = None
        answer = decoded if isinstance(decoded, dict) else None
        headers = {**ctx.extra_headers, **trace.headers()}
        if reply.status >= 300:  # a client error the upstream reported: passed through as is
            admission.release()
            self._account(ctx, reply.status, None, 0.0)
            return web.Response(body=reply.body, status=reply.status, content_type="application/json",
                                headers=headers)
        body = reply.body
        if answer is not None:
            # Clients see the public name they asked for, never a provider's upstream name or a
            # node's, and OpenAI's schema (`conform.py`): re-encoded only when that changed anything.
            renamed = "model" in answer and answer["model"] != parsed.model
            if renamed:
                answer["model"] = parsed.model
            if conform_answer(answer) or renamed:
                body = jsonc.dumps_bytes(answer)
        prompt, completion = _usage(answer)
        cost = reply.target.cost(prompt, completion, time.monotonic() - trace.started)
        admission.settle(prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost)
        headers["x-shareai-cost-usd"] = _cost_header(cost)
        extra = self._overrun(ctx, reply.target.route, prompt + completion)
        self._account(ctx, 200, reply.target, cost, usage=(prompt, completion), extra=extra)
        if answer is not None and principal.cache_mode != "off":
            self.governor.cache_put(principal, ctx.cache_request,
                                    CachedResponse(body=answer, route=reply.target.route))
        return web.Response(body=body, status=200, content_type="application/json", headers=headers)

    async def _stream(self, ctx: RequestContext, targets: list[Target],
                      upstream_body: dict[str, Any]) -> web.StreamResponse:
        principal, parsed, admission = ctx.require()
        trace = ctx.trace
        started = await self.forwarder.stream(targets, ctx.endpoint, upstream_body, trace)
        if isinstance(started, Reply):
            return self._answer(ctx, started)
        target = started.target
        resp = web.StreamResponse(status=200, headers={**SSE_HEADERS, **ctx.extra_headers, **trace.headers()})
        stats = self.health.stats.get(target.route)
        stats.inflight += 1
        try:
            try:
                await resp.prepare(ctx.request)
            except (ConnectionResetError, ConnectionError):
                started.response.close()
                admission.release()
                self._account(ctx, 499, target, 0.0)
                return resp
            try:
                # A token-limited request's stream ends (finish_reason `length`) once it would pass
                # the completion part of its reservation, whatever the upstream does with max_tokens.
                cap = (Cap(prompt_tokens=parsed.prompt_bound, completion_tokens=parsed.completion_bound)
                       if ctx.token_limited else None)
                result = await relay(started, resp, include_usage=parsed.include_usage,
                                     read_timeout_s=target.timeout_s, assemble=principal.cache_mode != "off",
                                     model=parsed.model, cap=cap)
            except asyncio.CancelledError:  # the client left and the server cancelled the handler
                result = RelayResult(client_gone=True)
                self._settle_stream(ctx, result, target)
                raise
        finally:
            stats.inflight -= 1
        status = self._settle_stream(ctx, result, target)
        if status != 499:
            try:
                await resp.write_eof()
            except (ConnectionResetError, ConnectionError):
                pass
        return resp

    def _settle_stream(self, ctx: RequestContext, result: RelayResult, target: Target) -> int:
        """Book a relayed stream and record it; returns its status. A client that left before the
        usage chunk is booked its whole reservation (prompt bound plus the completion caps): what it
        received is unknown, and leaving just before the end must not dodge a limit or quota."""
        principal, parsed, admission = ctx.require()
        trace = ctx.trace
        usage = result.usage
        if usage is None and result.client_gone:
            usage = {"prompt_tokens": parsed.prompt_bound, "completion_tokens": parsed.completion_bound}
        prompt, completion = _usage({"usage": usage})
        cost = target.cost(prompt, completion, time.monotonic() - trace.started)
        admission.settle(prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost)
        if result.completed:
            status = 200
            elapsed_ms = (time.monotonic() - trace.started) * 1000
            self.health.stats.get(target.route).observe(latency_ms=elapsed_ms, ttft_ms=None)
            # A stream the relay cut at its cap is not the upstream's answer: never cached.
            if result.assembled is not None and result.assembled.cacheable and not result.capped:
                assembled = CachedResponse(body=result.assembled.body(result.usage), route=target.route)
                self.governor.cache_put(principal, ctx.cache_request, assembled)
        elif result.client_gone:
            status = 499  # nginx's "client closed request": nobody to answer, nothing wrong upstream
        else:
            status = result.error.status if result.error is not None else 502
            self.health.record_failure(target.route)
        extra: dict[str, Any] = {"cut": True} if status not in (200, 499) else {}
        if usage is not result.usage:
            extra = {"estimated": True}
        if result.capped:
            # Cut at the reservation: the upstream wrote past max_tokens; booked the whole reservation.
            extra = {"estimated": True, "capped": True}
            log.warning("stream cut at its reservation of %d completion tokens: route %s ignored max_tokens "
                        "(org %s, model %s)", parsed.completion_bound, target.route, principal.org, parsed.model)
        extra.update(self._overrun(ctx, target.route, prompt + completion))
        self._account(ctx, status, target, cost, usage=(prompt, completion), extra=extra)
        return status

    async def _serve_cached(self, ctx: RequestContext, hit: CachedResponse) -> web.StreamResponse:
        _, parsed, admission = ctx.require()
        trace = ctx.trace
        trace.route = hit.route
        admission.settle(prompt_tokens=0, completion_tokens=0, cost_usd=0.0)
        headers = {**admission.headers, **trace.headers(), "x-shareai-cost-usd": "0", "x-shareai-cache": "hit"}
        self._account(ctx, 200, None, 0.0, usage=_usage(hit.body), cache_hit=True)
        if not parsed.stream:
            return json_response(hit.body, headers=headers)
        resp = web.StreamResponse(status=200, headers={**SSE_HEADERS, **headers})
        try:
            await resp.prepare(ctx.request)
            await resp.write(replay_frames(hit.body, parsed.include_usage))
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        return resp

    def _account(self, ctx: RequestContext, status: int, target: Target | None, cost: float, *,
                 usage: tuple[int, int] = (0, 0), cache_hit: bool = False,
                 extra: dict[str, Any] | None = None) -> None:
        trace, principal, parsed = ctx.trace, ctx.principal, ctx.parsed
        elapsed = time.monotonic() - trace.started
        route = target.route if target is not None else (trace.route or "none")
        model, label = trace.model, trace.label
        self.metrics.requests.inc(label, route, str(status))
        self.metrics.latency.observe(elapsed, label, route)
        if trace.ttft_s is not None:
            self.metrics.ttft.observe(trace.ttft_s, label, route)
        trace.accounted = True
        if principal is None:
            return  # unauthenticated: nobody to account to
        if extra is not None and extra.get("error") == AccountingBacklog.default_code:
            # Refused because usage cannot be written: a record would only grow the backlog that
            # refused it. Counted in /metrics (above), served nothing, so nothing is lost.
            return
        self.governor.record(UsageRecord(
            ts=self.clock(),
            org=principal.org,
            key_id=principal.key_id,
            model=model,
            route=route,
            prompt_tokens=usage[0],
            completion_tokens=usage[1],
            cost_usd=cost,
            latency_ms=elapsed * 1000,
            ttft_ms=trace.ttft_s * 1000 if trace.ttft_s is not None else None,
            status=status,
            attempts=trace.attempts,
            cache_hit=cache_hit,
            stream=bool(parsed and parsed.stream),
            endpoint=ctx.endpoint,
            extra=extra or {},
        ))


def _model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "shareai"}
