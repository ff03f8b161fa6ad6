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

Permanent conditions are 400s, never a 503 a client would retry: a pin naming no provider and no
node of the caller's org (`unknown_route`; another org's node id reads exactly like one that does
not exist), a pinned provider that does not serve the model on this endpoint
(`route_not_serving_model`), embeddings of a model no route makes embeddings of
(`embeddings_not_supported`). 503 stays for what exists but cannot serve right now (a pinned node of
the caller's org that is offline, away or draining).

A pinned request goes to what it named even when the breaker is open (the caller asked for it).
An unpinned one skips what `RouteHealth.usable` rejects: open circuits, and providers whose cooldown
is over until their background probe succeeds (`gateway/health.py`). The targets come from the
request's one lookup of the model (`targets.ModelRoutes`), so routing walks no fleet of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shareai.coordinator.gateway import policy as policies
from shareai.coordinator.gateway.health import RouteHealth
from shareai.coordinator.gateway.targets import CHAT, COMPLETIONS, EMBEDDINGS, NODE, Catalog, ModelRoutes, Target
from shareai.coordinator.interfaces import Principal
from shareai.wire.capabilities import request_needs
from shareai.wire.errors import InvalidRequest, PermissionDenied

POLICY_HEADER = "x-shareai-policy"
ROUTE_HEADER = "x-shareai-route"


class Router:
    def __init__(self, catalog: Catalog, health: RouteHealth, default_policy: str) -> None:
        self.catalog = catalog
        self.health = health
        self.default_policy = default_policy

    def resolve_policy(self, principal: Principal, header: str | None) -> str:
        if principal.private:
            return "nodes-only"
        if header:
            if header not in policies.POLICIES:
                raise InvalidRequest(f"Header '{POLICY_HEADER}' must be one of {', '.join(policies.POLICIES)}, "
                                     f"got {header!r}.", param=POLICY_HEADER, code="invalid_value")
            return header
        return principal.policy or self.default_policy

    def candidates(self, routes: ModelRoutes, *, principal: Principal, endpoint: str, policy: str,
                   pin: str | None, ctx: policies.RouteContext,
                   body: Mapping[str, Any] | None = None) -> list[Target]:
        """The targets to try, in order, out of the request's one lookup `routes`. `body` (the
        request as the client sent it) decides which targets can serve it; without one, every
        target counts as able."""
        health = self.health
        serving = self.catalog.targets(routes, principal, endpoint)
        if endpoint == EMBEDDINGS and not serving:
            raise InvalidRequest(f"The model '{routes.model}' cannot create embeddings: no route serves it on "
                                 "/v1/embeddings.", param="model", code="embeddings_not_supported")
        ordered = policies.order(policy, serving, stats=health.stats, ctx=ctx, rng=health.settings.rng)
        if pin:
            ordered = self._pinned(pin, ordered, principal, routes.model)
        ordered = self._able(ordered, routes.model, endpoint, body)
        if pin:
            return ordered
        now = health.settings.clock()
        return [t for t in ordered if health.usable(t, now)]

    @staticmethod
    def _able(ordered: list[Target], model: str, endpoint: str, body: Mapping[str, Any] | None) -> list[Target]:
        """The targets that can serve what `body` uses; 400 naming the parameter when there were
        targets and none can."""
        if body is None or endpoint not in (CHAT, COMPLETIONS) or all(t.node is None for t in ordered):
            return ordered  # (a provider is assumed able: reading the body's needs would be wasted)
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

    def _pinned(self, pin: str, ordered: list[Target], principal: Principal, model: str) -> list[Target]:
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
                if not group and not self.catalog.directory.knows_node(name[5:], principal.org):
                    raise _unknown_route(name)
            elif name in self.catalog.provider_names:
                if principal.private:
                    raise PermissionDenied("This key may only use its organisation's own nodes.",
                                           param=ROUTE_HEADER, code="route_not_allowed")
                group = [t for t in ordered if t.route == name]
                if not group:
                    raise InvalidRequest(f"Header '{ROUTE_HEADER}' names {name!r}, which does not serve '{model}' "
                                         "on this endpoint.", param=ROUTE_HEADER, code="route_not_serving_model")
            else:
                raise _unknown_route(name)
            chosen.extend(t for t in group if t not in chosen)
        return chosen


def _unknown_route(name: str) -> InvalidRequest:
    """The one answer for a pin naming nothing the caller may use (the same for another org's node)."""
    return InvalidRequest(f"Header '{ROUTE_HEADER}' names no provider or node: {name!r}.", param=ROUTE_HEADER,
                          code="unknown_route")
