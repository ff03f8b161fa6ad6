"""Choosing the targets of one request: candidates, pinning, policy order, circuit breakers, probes.

    x-shareai-route: provider-a   only that provider
    x-shareai-route: node         only nodes (in policy order)
    x-shareai-route: node:<id>    only that node
    x-shareai-route: a,b,node     those routes, failing over in that order

Only targets that can serve the request's features (`tools`, `n > 1`, `logit_bias`, ... as
`shareai.wire.capabilities` reads them from the body) are candidates: a node by what it advertised,
a provider always. When the policy or pin leaves targets but none of them can serve the request,
the answer is 400 naming the parameter (`unsupported_parameter`, or `unsupported_value` for a kind
of value such as `n` > 1), instead of a node's refusal or a provider the policy forbids.

A pinned request goes to what it named even when the breaker is open (the caller asked for it).
An unpinned one skips open circuits; a provider whose cooldown is over is probed in the background
with `GET {base_url}/models` (no tokens spent) and rejoins when the probe succeeds. A node whose
cooldown is over simply gets a trial request: it is still in the directory, so it heartbeats.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp

from shareai.coordinator.gateway import policy as policies
from shareai.coordinator.gateway.breaker import CLOSED, HALF_OPEN
from shareai.coordinator.gateway.forward import Forwarder
from shareai.coordinator.gateway.targets import CHAT, COMPLETIONS, NODE, Catalog, Target
from shareai.coordinator.interfaces import Principal
from shareai.wire.capabilities import request_needs
from shareai.wire.errors import InvalidRequest, PermissionDenied

log = logging.getLogger(__name__)

POLICY_HEADER = "x-shareai-policy"
ROUTE_HEADER = "x-shareai-route"


class Router:
    def __init__(self, catalog: Catalog, forwarder: Forwarder, default_policy: str) -> None:
        self.catalog = catalog
        self.forwarder = forwarder
        self.default_policy = default_policy
        self._probing: dict[str, asyncio.Task[None]] = {}

    def resolve_policy(self, principal: Principal, header: str | None) -> str:
        if principal.private:
            return "nodes-only"
        if header:
            if header not in policies.POLICIES:
                raise InvalidRequest(f"Header '{POLICY_HEADER}' must be one of {', '.join(policies.POLICIES)}, "
                                     f"got {header!r}.", param=POLICY_HEADER, code="invalid_value")
            return header
        return principal.policy or self.default_policy

    def candidates(self, *, model: str, principal: Principal, endpoint: str, policy: str, pin: str | None,
                   ctx: policies.RouteContext, body: Mapping[str, Any] | None = None) -> list[Target]:
        """The targets to try, in order. `body` (the request as the client sent it) decides which
        targets can serve it; without one, every target counts as able."""
        nodes = self.catalog.node_targets(model, principal, endpoint)
        providers = [] if principal.private else self.catalog.provider_targets(model, endpoint)
        ordered = policies.order(policy, nodes + providers, stats=self.forwarder.stats, ctx=ctx,
                                 rng=self.forwarder.settings.rng)
        if pin:
            ordered = self._pinned(pin, ordered, principal)
        ordered = self._able(ordered, model, endpoint, body)
        if pin:
            return ordered
        now = self.forwarder.settings.clock()
        usable: list[Target] = []
        for t in ordered:
            breaker = self.forwarder.breakers.get(t.route)
            state = breaker.state(now) if breaker is not None else CLOSED
            if state == CLOSED or (state == HALF_OPEN and t.kind == NODE):
                usable.append(t)
            elif state == HALF_OPEN:
                self.schedule_probe(t)
        return usable

    @staticmethod
    def _able(ordered: list[Target], model: str, endpoint: str, body: Mapping[str, Any] | None) -> list[Target]:
        """The targets that can serve what `body` uses; 400 naming the parameter when there were
        targets and none can."""
        if body is None or endpoint not in (CHAT, COMPLETIONS):
            return ordered
        needs = request_needs(endpoint, body)
        able = [t for t in ordered if t.unmet(endpoint, needs) is None]
        if able or not ordered:
            return able
        # Name a need no target meets if there is one (else the best-ranked target's first gap).
        blocking = [n for n in needs if all(t.unmet(endpoint, [n]) is not None for t in ordered)]
        need = blocking[0] if blocking else ordered[0].unmet(endpoint, needs)
        assert need is not None
        raise InvalidRequest(
            f"Unsupported parameter '{need.param}': none of the {len(ordered)} route(s) this request may use "
            f"for '{model}' supports {need.describe()}. Remove it, or route the request where it can be served.",
            param=need.param, code=need.code)

    def _pinned(self, pin: str, ordered: list[Target], principal: Principal) -> list[Target]:
        """The targets a route header names, in the order it names them (`a,b,node` fails over from
        a to b to the nodes); `node` keeps the policy's order among nodes."""
        chosen: list[Target] = []
        for name in (p.strip() for p in pin.split(",")):
            if not name:
                continue
            if name == NODE:
                group = [t for t in ordered if t.kind == NODE]
            elif name.startswith("node:"):
                group = [t for t in ordered if t.route == name]
            elif name in self.catalog.provider_names:
                if principal.private:
                    raise PermissionDenied("This key may only use its organisation's own nodes.",
                                           param=ROUTE_HEADER, code="route_not_allowed")
                group = [t for t in ordered if t.route == name]
            else:
                raise InvalidRequest(f"Header '{ROUTE_HEADER}' names no provider or node: {name!r}.",
                                     param=ROUTE_HEADER, code="unknown_route")
            chosen.extend(t for t in group if t not in chosen)
        return chosen

    def probe_due(self) -> int:
        """Probe every provider whose cooldown is over; the background loop calls this, so circuits
        close again without waiting for traffic. Returns how many probes were started."""
        now = self.forwarder.settings.clock()
        started = 0
        for target in self.catalog.probe_targets:
            breaker = self.forwarder.breakers.get(target.route)
            if breaker is not None and breaker.state(now) == HALF_OPEN and target.route not in self._probing:
                self.schedule_probe(target)
                started += 1
        return started

    def schedule_probe(self, target: Target) -> None:
        if target.route in self._probing:
            return
        task = asyncio.get_running_loop().create_task(self._probe(target))
        self._probing[target.route] = task
        task.add_done_callback(lambda _: self._probing.pop(target.route, None))

    async def _probe(self, target: Target) -> None:
        fw = self.forwarder
        pool = fw._keys(target)
        key = pool.pick(fw.settings.clock()) if pool is not None else None
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            fw.faults.check(target.route)
            async with asyncio.timeout(fw.settings.probe_timeout_s):
                async with fw.session.get(target.base_url + "/models", headers=headers) as resp:
                    await resp.read()
                    ok = resp.status < 300
        except (TimeoutError, aiohttp.ClientError, OSError):
            ok = False
        now = fw.settings.clock()
        breaker = fw.breaker(target.route)
        if ok:
            breaker.record_success(now)
            log.info("provider %s is back (probe succeeded); circuit closed", target.route)
        else:
            breaker.record_failure(now)
        fw.metrics.attempts.inc(target.route, "probe_ok" if ok else "probe_failed")

    async def close(self) -> None:
        tasks = list(self._probing.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
