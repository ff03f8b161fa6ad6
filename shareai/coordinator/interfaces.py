"""The contracts between the coordinator's subsystems.

    fleet (control plane)  ──NodeDirectory──▶  gateway  ◀──Governor──  governance
          ▲    │                                  │
    OrgLookup  └──RetireOrg──▶ governance    UsageRecord ──▶ governance (accounting)

Every subsystem depends only on these protocols and on `Host` (what the coordinator process
gives it at start), never on the concrete `Coordinator`, so it is tested with small in-test
implementations. `compose.build_coordinator` is the one place that wires the real ones together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # types only: these modules sit below this one and never import it back
    import grpc
    from aiohttp import web

    from shareai.coordinator.admin import AdminAuth
    from shareai.coordinator.audit import AuditLog
    from shareai.coordinator.config import CoordinatorConfig
    from shareai.coordinator.store.db import Database, Schema

from shareai.coordinator.price import Price


@dataclass(frozen=True, slots=True)
class NodeModelLoad:
    slots: int
    slots_busy: int
    slots_free: int
    queue_depth: int
    queue_limit: int
    n_ctx: int


@dataclass(frozen=True, slots=True)
class NodeRoute:
    """A snapshot of one node serving one model, as the gateway needs it to route and forward."""

    node_id: str
    name: str
    org: str
    endpoint_url: str  # the node's OpenAI base URL, ending in /v1
    data_plane_secret: str  # sent as `Authorization: Bearer ...` to the node
    model: str
    load: NodeModelLoad
    input_per_mtok: float | None  # the node's advertised price; None -> the [nodes] default
    output_per_mtok: float | None
    power_w: float | None = None  # last measured GPU power draw, for energy pricing
    # Request features the model accepts, per endpoint (`shareai.wire.capabilities`); None: the
    # node said nothing (an older agent), so `LEGACY_FEATURES` applies.
    features: Mapping[str, frozenset[str]] | None = None


class NodeDirectory(Protocol):
    """Live view of the fleet: only online, available (not away, draining or revoked) nodes."""

    def routes_for(self, model: str, org: str | None) -> list[NodeRoute]:
        """Nodes serving `model`; `org=None` means every org's nodes (bootstrap/admin keys)."""
        ...

    def model_names(self, org: str | None) -> set[str]:
        ...

    def knows_node(self, node_id: str, org: str | None) -> bool:
        """Whether `node_id` is a registered, unrevoked node of `org` (any org for `None`), online
        or not: a route pin to it is then "not available now" (503), not an unknown route (400).
        Another org's node must answer False, exactly like an id that does not exist."""
        ...


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling the gateway, resolved from the API key."""

    key_id: str
    org: str | None  # None: a bootstrap key (admin key, [auth].api_keys): sees all nodes, no org limits
    allowed_models: frozenset[str] | None = None  # None: every model
    policy: str | None = None  # the org's (or key's) routing policy; None: config default
    private: bool = False  # nodes-only, whatever a request header asks
    cache_mode: str = "off"  # off | deterministic | all
    cache_ttl_s: float = 300.0


class Authenticator(Protocol):
    async def authenticate(self, token: str | None) -> Principal:
        """Raises `AuthenticationError` (401) for a missing, unknown, revoked or expired key."""
        ...


class Admission(Protocol):
    """A request admitted past rate limits and quotas, holding a reservation until settled."""

    headers: dict[str, str]  # x-ratelimit-* headers to put on the answer
    token_limited: bool  # a token quota or tpm applies: the gateway enforces the completion cap

    def settle(self, *, prompt_tokens: int, completion_tokens: int, cost_usd: float) -> None:
        ...

    def release(self) -> None:
        """The request failed before using anything: give the reservation back."""
        ...


@dataclass(slots=True)
class UsageRecord:
    ts: float
    org: str | None
    key_id: str
    model: str
    route: str  # provider name, or "node:<id>"
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float
    ttft_ms: float | None
    status: int
    attempts: int
    cache_hit: bool
    stream: bool
    endpoint: str = "chat.completions"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CachedResponse:
    body: dict[str, Any]  # the full non-streaming response (streams are replayed from it)
    route: str


class Governor(Protocol):
    async def admit(self, principal: Principal, *, model: str, prompt_tokens: int, max_tokens: int,
                    max_price: Price | None = None) -> Admission:
        """Raises `RateLimited` or `QuotaExceeded` (429) with headers. `max_price`: the dearest route
        the request may take (the gateway's one lookup of the model's routes), bounding a cost reservation."""
        ...

    def cache_get(self, principal: Principal, request: dict[str, Any]) -> CachedResponse | None:
        ...

    def cache_put(self, principal: Principal, request: dict[str, Any], response: CachedResponse) -> None:
        ...

    def record(self, usage: UsageRecord) -> None:
        """Never blocks: goes through the accounting buffer."""
        ...

    def rate_headers(self, principal: Principal) -> dict[str, str]:
        """Current `x-ratelimit-*` headers of a principal, consuming nothing (answers before
        admission: 404, 403, `GET /v1/models`). `{}` where no limits apply."""
        ...


class OrgLookup(Protocol):
    """Whether an org exists (the fleet refuses enrollment tokens for unknown orgs)."""

    def org_exists(self, org: str) -> bool:
        ...


# Deleting an org revokes its fleet tokens and nodes: (actor, org) -> details for the answer.
RetireOrg = Callable[[str, str], Awaitable[dict[str, Any]]]


class Host(Protocol):
    """What the coordinator process gives a subsystem at start (`app.Coordinator` is one)."""

    config: CoordinatorConfig
    clock: Callable[[], float]
    db: Database
    audit: AuditLog
    admin: AdminAuth
    http_app: web.Application
    grpc_port: int  # 0 until the gRPC server is bound (read it at request time)


class Subsystem(Protocol):
    """One part of the coordinator, started in order and closed in reverse by `app.Coordinator`.

    `start` loads state and adds HTTP routes; then the gRPC server is built with every
    subsystem's `grpc_interceptors()` (interceptors are fixed at construction) and each adds its
    services with `add_grpc_services`. A subsystem without gRPC returns `[]` and does nothing."""

    name: str
    schemas: tuple[Schema, ...]

    async def start(self, host: Host) -> None:
        ...

    def grpc_interceptors(self) -> list[grpc.aio.ServerInterceptor]:
        ...

    def add_grpc_services(self, server: grpc.aio.Server) -> None:
        ...

    async def close(self) -> None:
        ...
