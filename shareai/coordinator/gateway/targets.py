"""Targets: the places one public model name can be served from, providers and nodes alike.

A `Target` is everything the forwarder needs for one attempt (base URL, upstream model name,
prices, timeout) plus the route name that identifies it in headers, metrics and usage records:
the provider's name, or `node:<id>`. The `Catalog` indexes the configured providers by public model
name; nodes come live from the `NodeDirectory` on every request, so a node that stops
heartbeating disappears from routing at once. A request looks its model up once
(`Catalog.lookup` -> `ModelRoutes`): whether the model is known, the price bound its admission
reserves at, and the targets the router orders all come from that one walk of the fleet.

`Target.unmet(endpoint, needs)` says whether a target can serve a request's features
(`shareai.wire.capabilities`): a node by what its model advertised (an older agent that advertised
nothing: `LEGACY_FEATURES`); a provider is assumed to serve everything (its own 400 for a feature
it lacks is recognised by the forwarder, which then moves on).
"""

from __future__ import annotations

from dataclasses import dataclass

from shareai.coordinator.config import CoordinatorConfig, NodePricing, ProviderConfig, ProviderModel
from shareai.coordinator.interfaces import NodeDirectory, NodeRoute, Principal
from shareai.coordinator.price import Price, energy_cost_usd
from shareai.wire.capabilities import LEGACY_FEATURES, Need, first_unmet

PROVIDER = "provider"
NODE = "node"

# Endpoint names as they appear in usage records, and the path each has under a target's base URL.
CHAT = "chat.completions"
COMPLETIONS = "completions"
EMBEDDINGS = "embeddings"
PATHS = {CHAT: "/chat/completions", COMPLETIONS: "/completions", EMBEDDINGS: "/embeddings"}


@dataclass(frozen=True, slots=True)
class Target:
    route: str  # provider name or "node:<id>"
    kind: str  # PROVIDER | NODE
    base_url: str  # ends in /v1, no trailing slash
    upstream_model: str
    input_per_mtok: float
    output_per_mtok: float
    timeout_s: float
    weight: float
    provider: ProviderConfig | None = None
    node: NodeRoute | None = None
    energy_per_kwh: float = 0.0

    @property
    def price(self) -> Price:
        return Price(self.input_per_mtok, self.output_per_mtok)

    def estimated_cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return self.price.usd(prompt_tokens, completion_tokens)

    def cost(self, prompt_tokens: int, completion_tokens: int, latency_s: float) -> float:
        """The route's cost in USD: token prices, or for an unpriced node its measured energy."""
        cost = self.estimated_cost(prompt_tokens, completion_tokens)
        if cost == 0.0 and self.node is not None:
            cost = energy_cost_usd(self.node.power_w, latency_s, self.energy_per_kwh)
        return cost

    def unmet(self, endpoint: str, needs: list[Need]) -> Need | None:
        """The first of `needs` this target cannot serve on `endpoint`, or None."""
        if self.node is None or not needs:
            return None
        features = self.node.features if self.node.features is not None else LEGACY_FEATURES
        return first_unmet(needs, features.get(endpoint, frozenset()))


def node_target(route: NodeRoute, pricing: NodePricing, timeout_s: float) -> Target:
    priced = route.input_per_mtok is not None or route.output_per_mtok is not None
    return Target(
        route=f"node:{route.node_id}",
        kind=NODE,
        base_url=route.endpoint_url.rstrip("/"),
        upstream_model=route.model,
        input_per_mtok=pricing.input_per_mtok if route.input_per_mtok is None else route.input_per_mtok,
        output_per_mtok=pricing.output_per_mtok if route.output_per_mtok is None else route.output_per_mtok,
        timeout_s=timeout_s,
        weight=1.0,
        node=route,
        energy_per_kwh=0.0 if priced else pricing.energy_per_kwh,
    )


def provider_target(provider: ProviderConfig, model: ProviderModel) -> Target:
    return Target(
        route=provider.name,
        kind=PROVIDER,
        base_url=provider.base_url,
        upstream_model=model.upstream,
        input_per_mtok=model.input_per_mtok,
        output_per_mtok=model.output_per_mtok,
        timeout_s=provider.timeout_s,
        weight=provider.weight,
        provider=provider,
    )


@dataclass(frozen=True, slots=True)
class ModelRoutes:
    """One caller's routes for one model, looked up once per request: the nodes of the caller's
    org (every org's for a bootstrap key) and every configured provider of the model."""

    model: str
    nodes: list[NodeRoute]
    providers: list[Target]

    @property
    def known(self) -> bool:
        """Whether any route knows this model (a private caller then gets 503 if no node serves it)."""
        return bool(self.providers or self.nodes)


class Catalog:
    """Providers by public model name, and the live node directory behind one lookup."""

    def __init__(self, config: CoordinatorConfig, directory: NodeDirectory, *, node_timeout_s: float) -> None:
        self.config = config
        self.directory = directory
        self.node_timeout_s = node_timeout_s
        self.provider_names = frozenset(p.name for p in config.providers)
        # One target per provider to probe its health with (`GET /models` does not depend on the model).
        self.probe_targets = [provider_target(p, p.models[0]) for p in config.providers if p.models]
        self._providers: dict[str, list[Target]] = {}
        self._embedding_models: set[tuple[str, str]] = set()
        for p in config.providers:
            for m in p.models:
                self._providers.setdefault(m.name, []).append(provider_target(p, m))
                if m.embeddings:
                    self._embedding_models.add((p.name, m.name))

    def lookup(self, model: str, principal: Principal) -> ModelRoutes:
        """The one walk of the fleet a request makes."""
        return ModelRoutes(model, self.directory.routes_for(model, principal.org), self._providers.get(model, []))

    def targets(self, routes: ModelRoutes, principal: Principal, endpoint: str) -> list[Target]:
        """The targets that may serve `endpoint`, nodes first (the policy orders them)."""
        # A node model serves embeddings when it advertises the endpoint (embedding models advertise
        # nothing else, so they are never sent chat: `Target.unmet` finds no chat features).
        node_routes = [r for r in routes.nodes if endpoint != EMBEDDINGS or EMBEDDINGS in (r.features or {})]
        nodes = [node_target(r, self.config.node_pricing, self.node_timeout_s) for r in node_routes]
        if principal.private:
            return nodes
        if endpoint == EMBEDDINGS:
            return nodes + [t for t in routes.providers if (t.route, routes.model) in self._embedding_models]
        return nodes + routes.providers

    def max_price(self, routes: ModelRoutes) -> Price:
        """The highest price any route of the model may charge: what a cost reservation holds, so it
        is an upper bound whichever route the router picks (the `[nodes]` default always counts;
        energy-priced nodes are not bounded by tokens, their cost counts once settled)."""
        pricing = self.config.node_pricing
        default = Price(pricing.input_per_mtok, pricing.output_per_mtok)
        nodes = (Price(default.input_per_mtok if r.input_per_mtok is None else r.input_per_mtok,
                       default.output_per_mtok if r.output_per_mtok is None else r.output_per_mtok)
                 for r in routes.nodes)
        return Price.highest(nodes, Price.highest((t.price for t in routes.providers), default))

    def model_names(self, principal: Principal) -> list[str]:
        names = set(self.directory.model_names(principal.org))
        if not principal.private:
            names.update(self._providers)
        if principal.allowed_models is not None:
            names &= principal.allowed_models
        return sorted(names)
