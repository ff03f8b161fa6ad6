"""Targets: the places one public model name can be served from, providers and nodes alike.

A `Target` is everything the forwarder needs for one attempt (base URL, upstream model name,
prices, timeout) plus the route name that identifies it in headers, metrics and usage records:
the provider's name, or `node:<id>`. The `Catalog` indexes the configured providers by public model
name; nodes come live from the `NodeDirectory` on every request, so a node that stops
heartbeating disappears from routing at once.

`Target.unmet(endpoint, needs)` says whether a target can serve a request's features
(`shareai.wire.capabilities`): a node by what its model advertised (an older agent that advertised
nothing: `LEGACY_FEATURES`); a provider is assumed to serve everything (its own 400 for a feature
it lacks is recognised by the forwarder, which then moves on).
"""

from __future__ import annotations

from dataclasses import dataclass

from shareai.coordinator.config import CoordinatorConfig, NodePricing, ProviderConfig, ProviderModel
from shareai.coordinator.interfaces import NodeDirectory, NodeRoute, Principal
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

    def estimated_cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / 1_000_000

    def cost(self, prompt_tokens: int, completion_tokens: int, latency_s: float) -> float:
        """The route's cost in USD: token prices, or for an unpriced node its measured energy."""
        cost = self.estimated_cost(prompt_tokens, completion_tokens)
        if cost == 0.0 and self.node is not None and self.node.power_w and self.energy_per_kwh > 0:
            cost = self.node.power_w * latency_s / 3_600_000 * self.energy_per_kwh
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

    def provider_targets(self, model: str, endpoint: str) -> list[Target]:
        targets = self._providers.get(model, [])
        if endpoint == EMBEDDINGS:
            return [t for t in targets if (t.route, model) in self._embedding_models]
        return list(targets)

    def node_targets(self, model: str, principal: Principal, endpoint: str) -> list[Target]:
        if endpoint == EMBEDDINGS:
            return []  # nodes advertise no embedding capability in the control-plane contract
        return [
            node_target(r, self.config.node_pricing, self.node_timeout_s)
            for r in self.directory.routes_for(model, principal.org)
        ]

    def known(self, model: str, principal: Principal) -> bool:
        """Whether any route knows this model (a private caller then gets 503 if no node serves it)."""
        return model in self._providers or model in self.directory.model_names(principal.org)

    def model_names(self, principal: Principal) -> list[str]:
        names = set(self.directory.model_names(principal.org))
        if not principal.private:
            names.update(self._providers)
        if principal.allowed_models is not None:
            names &= principal.allowed_models
        return sorted(names)
