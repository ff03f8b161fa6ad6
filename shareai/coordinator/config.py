"""Coordinator configuration: a TOML file (`--config`), overridden by flags, validated at start-up.

    [server]
    http_host = "127.0.0.1"
    http_port = 8080
    grpc_host = "127.0.0.1"         # the control plane; "0.0.0.0" to let agents on other machines in
    grpc_port = 50051
    data_dir = "~/.local/share/shareai-coordinator"
    max_body_bytes = 4194304
    tls_cert = "/etc/shareai/tls/cert.pem"   # both set: gRPC (agents) and the HTTP API over TLS
    tls_key = "/etc/shareai/tls/key.pem"
    metrics_token = "${METRICS_TOKEN}"      # bearer that may read /metrics (the admin key always may)
    metrics_public = false                  # true: /metrics answers anyone (no token)
    public_url = "https://coord.example"    # where others reach the HTTP API (install scripts)
    public_grpc = "coord.example:50051"     # where agents dial gRPC (default: request host + gRPC port)
    cors_origins = ["https://app.example"]  # browser apps that may call /v1/* ("*": any); default none

    [fleet]
    heartbeat_interval_s = 5.0
    patience = 3                    # heartbeats missed before a node is offline

    [routing]
    default_policy = "cheapest"     # cheapest | fastest | least-loaded | prefer-nodes | nodes-only | weighted
    breaker_threshold = 3           # consecutive failures that take a target out of routing
    breaker_cooldown_s = 10.0       # before the first probe (doubles while probes fail)
    node_timeout_s = 120.0          # per attempt on a node (providers have their own timeout_s)

    [nodes]                         # price of own nodes, per 1M tokens, for cost comparison
    input_per_mtok = 0.0
    output_per_mtok = 0.0
    energy_per_kwh = 0.0            # optional: price nodes by measured power draw instead
    allowed_networks = ["10.0.0.0/8"]  # endpoint_url hosts allowed besides the node's own address

    [auth]
    api_keys = ["${GATEWAY_KEY}"]   # bootstrap gateway keys until orgs and keys exist

    [governance]
    enabled = true                  # false: no orgs, limits, quotas or accounting; only the admin key
                                    # and [auth] api_keys get in (logged at start as a warning)
    cache_max_bytes = 67108864      # response cache bound (LRU by bytes, all orgs together); 0 disables
    usage_flush_interval_s = 0.5    # usage records reach SQLite at least this often (0 < x <= 1.0):
                                    # after `kill -9` at most this window of records is missing

    [[providers]]
    name = "provider-a"
    base_url = "http://127.0.0.1:9001/v1"
    api_keys = ["${PROVIDER_A_KEY}"]  # literals or ${ENV}; several keys form a pool
    timeout_s = 30
    weight = 1

    [[providers.models]]
    name = "gemma-3-270m"           # public model name clients use
    upstream = "gemma"              # name at the provider (default: same as name)
    input_per_mtok = 0.10
    output_per_mtok = 0.40
    embeddings = false              # true: an embedding model, served on /v1/embeddings

`${NAME}` in any string is replaced by the environment variable NAME; an unset one is a start-up
error naming it, never an empty key.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shareai.coordinator.cors import valid_origin
from shareai.tomlconfig import ConfigError, expand_env, get, read_toml

POLICIES = ("cheapest", "fastest", "least-loaded", "prefer-nodes", "nodes-only", "weighted")
_HOST_PORT = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):\d{1,5}$")


@dataclass(slots=True)
class ProviderModel:
    name: str
    upstream: str
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    embeddings: bool = False  # the gateway routes /v1/embeddings for this model to this provider


@dataclass(slots=True)
class ProviderConfig:
    name: str
    base_url: str
    api_keys: list[str] = field(default_factory=list)
    timeout_s: float = 30.0
    weight: float = 1.0
    models: list[ProviderModel] = field(default_factory=list)

    def model(self, public_name: str) -> ProviderModel | None:
        return next((m for m in self.models if m.name == public_name), None)


@dataclass(slots=True)
class NodePricing:
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    energy_per_kwh: float = 0.0


@dataclass(slots=True)
class GovernanceConfig:
    enabled: bool = True
    cache_max_bytes: int = 64 * 1024 * 1024
    usage_flush_interval_s: float = 0.5


@dataclass(slots=True)
class CoordinatorConfig:
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # Loopback by default, like HTTP: exposing the control plane is a decision (`grpc_host = "0.0.0.0"`).
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    data_dir: Path = field(default_factory=lambda: Path("~/.local/share/shareai-coordinator").expanduser())
    max_body_bytes: int = 4 * 1024 * 1024
    heartbeat_interval_s: float = 5.0
    patience: int = 3
    default_policy: str = "cheapest"
    breaker_threshold: int = 3
    breaker_cooldown_s: float = 10.0
    node_timeout_s: float = 120.0
    node_pricing: NodePricing = field(default_factory=NodePricing)
    # CIDRs a node's endpoint_url may point into besides its own connection's address (fleet/endpoints.py).
    node_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    api_keys: list[str] = field(default_factory=list)
    providers: list[ProviderConfig] = field(default_factory=list)
    governance: GovernanceConfig = field(default_factory=GovernanceConfig)
    # Where the coordinator's own HTTP API is reachable by others (install scripts embed it).
    public_url: str | None = None
    # Where agents dial the control plane, "host:port" (install scripts embed it); default: the
    # host the request came in on with the bound gRPC port.
    public_grpc: str | None = None
    # PEM files; both set: the gRPC control plane and the HTTP API speak TLS only.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Who may read /metrics besides the admin key (node ids, routes, traffic): a bearer token, or anyone.
    metrics_token: str | None = None
    metrics_public: bool = False
    # Origins whose browser apps may call /v1/* (`cors.py`); "*" allows any; empty: no CORS headers.
    cors_origins: tuple[str, ...] = ()

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def validate(self) -> CoordinatorConfig:
        if self.default_policy not in POLICIES:
            raise ConfigError(
                f"routing.default_policy must be one of {', '.join(POLICIES)}, got {self.default_policy!r}"
            )
        if self.breaker_threshold < 1:
            raise ConfigError("routing.breaker_threshold must be >= 1")
        if self.breaker_cooldown_s <= 0 or self.node_timeout_s <= 0:
            raise ConfigError("routing.breaker_cooldown_s and routing.node_timeout_s must be > 0")
        if self.heartbeat_interval_s <= 0:
            raise ConfigError("fleet.heartbeat_interval_s must be > 0")
        if self.patience < 1:
            raise ConfigError("fleet.patience must be >= 1")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("server.tls_cert and server.tls_key go together: give both or neither")
        if self.metrics_token is not None and len(self.metrics_token) < 16:
            raise ConfigError("server.metrics_token must be at least 16 characters")
        if self.metrics_public and self.metrics_token is not None:
            raise ConfigError("server.metrics_public = true opens /metrics to anyone: drop server.metrics_token "
                              "or metrics_public")
        if self.public_grpc is not None and not _HOST_PORT.match(self.public_grpc):
            raise ConfigError(f"server.public_grpc must be HOST:PORT, got {self.public_grpc!r}")
        bad = [o for o in self.cors_origins if not valid_origin(o)]
        if bad:
            raise ConfigError(f"server.cors_origins: {bad[0]!r} is not an origin like \"https://app.example\" "
                              "(scheme, host, optional port, no path) or \"*\"")
        if self.governance.cache_max_bytes < 0:
            raise ConfigError(f"governance.cache_max_bytes must be >= 0, got {self.governance.cache_max_bytes}")
        flush = self.governance.usage_flush_interval_s
        if not 0 < flush <= 1.0:
            raise ConfigError("governance.usage_flush_interval_s must be > 0 and <= 1.0 (usage is flushed at "
                              f"least every second), got {flush}")
        names = [p.name for p in self.providers]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ConfigError(f"providers: duplicate name(s) {sorted(dup)}")
        for p in self.providers:
            if p.name in ("node",) or p.name.startswith("node:"):
                raise ConfigError(f"providers: the name {p.name!r} is reserved for own nodes")
            if not p.base_url.startswith(("http://", "https://")):
                raise ConfigError(f"providers.{p.name}.base_url must be an http(s) URL, got {p.base_url!r}")
            if p.timeout_s <= 0:
                raise ConfigError(f"providers.{p.name}.timeout_s must be > 0")
            if p.weight < 0:
                raise ConfigError(f"providers.{p.name}.weight must be >= 0")
            if not p.models:
                raise ConfigError(f"providers.{p.name} declares no [[providers.models]]")
        return self

    def masked(self) -> dict[str, Any]:
        """For start-up logs: everything but secrets."""
        return {
            "http": f"{self.http_host}:{self.http_port}",
            "grpc": f"{self.grpc_host}:{self.grpc_port}",
            "tls": self.tls,
            "cors_origins": list(self.cors_origins),
            "metrics": "public" if self.metrics_public else "admin key + token" if self.metrics_token else "admin key",
            "data_dir": str(self.data_dir),
            "heartbeat_interval_s": self.heartbeat_interval_s,
            "patience": self.patience,
            "default_policy": self.default_policy,
            "api_keys": len(self.api_keys),
            "providers": [
                {"name": p.name, "base_url": p.base_url, "keys": len(p.api_keys), "models": [m.name for m in p.models]}
                for p in self.providers
            ],
        }


def _table(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}] must be a table")
    return value


def _networks(values: list[Any]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value if isinstance(value, str) else "", strict=False))
        except ValueError:
            raise ConfigError(f"nodes.allowed_networks: {value!r} is not a CIDR like \"10.0.0.0/8\"") from None
    return tuple(out)


def parse_config(doc: dict[str, Any]) -> CoordinatorConfig:
    doc = expand_env(doc, "config")
    known = {"server", "fleet", "routing", "nodes", "auth", "providers", "governance"}
    unknown = set(doc) - known
    if unknown:
        raise ConfigError(f"unknown top-level key(s): {sorted(unknown)}")
    cfg = CoordinatorConfig()
    server = _table(doc, "server")
    cfg.http_host = get(server, "http_host", str, "server", cfg.http_host)
    cfg.http_port = get(server, "http_port", int, "server", cfg.http_port)
    cfg.grpc_host = get(server, "grpc_host", str, "server", cfg.grpc_host)
    cfg.grpc_port = get(server, "grpc_port", int, "server", cfg.grpc_port)
    if "data_dir" in server:
        cfg.data_dir = Path(get(server, "data_dir", str, "server", "")).expanduser()
    cfg.max_body_bytes = get(server, "max_body_bytes", int, "server", cfg.max_body_bytes)
    cfg.public_url = get(server, "public_url", str, "server", None)
    cfg.public_grpc = get(server, "public_grpc", str, "server", None)
    for key in ("tls_cert", "tls_key"):
        path = get(server, key, str, "server", None)
        setattr(cfg, key, Path(path).expanduser() if path else None)
    cfg.metrics_token = get(server, "metrics_token", str, "server", None) or None
    cfg.metrics_public = get(server, "metrics_public", bool, "server", False)
    origins = get(server, "cors_origins", list, "server", [])
    if not all(isinstance(o, str) for o in origins):
        raise ConfigError("server.cors_origins must be a list of strings")
    cfg.cors_origins = tuple(origins)
    fleet = _table(doc, "fleet")
    cfg.heartbeat_interval_s = get(fleet, "heartbeat_interval_s", float, "fleet", cfg.heartbeat_interval_s)
    cfg.patience = get(fleet, "patience", int, "fleet", cfg.patience)
    routing = _table(doc, "routing")
    cfg.default_policy = get(routing, "default_policy", str, "routing", cfg.default_policy)
    cfg.breaker_threshold = get(routing, "breaker_threshold", int, "routing", cfg.breaker_threshold)
    cfg.breaker_cooldown_s = get(routing, "breaker_cooldown_s", float, "routing", cfg.breaker_cooldown_s)
    cfg.node_timeout_s = get(routing, "node_timeout_s", float, "routing", cfg.node_timeout_s)
    nodes = _table(doc, "nodes")
    cfg.node_pricing = NodePricing(
        input_per_mtok=get(nodes, "input_per_mtok", float, "nodes", 0.0),
        output_per_mtok=get(nodes, "output_per_mtok", float, "nodes", 0.0),
        energy_per_kwh=get(nodes, "energy_per_kwh", float, "nodes", 0.0),
    )
    cfg.node_networks = _networks(get(nodes, "allowed_networks", list, "nodes", []))
    gov = _table(doc, "governance")
    unknown_gov = set(gov) - {"enabled", "cache_max_bytes", "usage_flush_interval_s"}
    if unknown_gov:
        raise ConfigError(f"governance: unknown key(s) {sorted(unknown_gov)}")
    cfg.governance = GovernanceConfig(
        enabled=get(gov, "enabled", bool, "governance", cfg.governance.enabled),
        cache_max_bytes=get(gov, "cache_max_bytes", int, "governance", cfg.governance.cache_max_bytes),
        usage_flush_interval_s=get(gov, "usage_flush_interval_s", float, "governance",
                                    cfg.governance.usage_flush_interval_s),
    )
    auth = _table(doc, "auth")
    cfg.api_keys = [k for k in get(auth, "api_keys", list, "auth", []) if k]
    providers = doc.get("providers", [])
    if not isinstance(providers, list):
        raise ConfigError("providers must be an array of tables ([[providers]])")
    for i, p in enumerate(providers):
        where = f"providers[{i}]"
        if not isinstance(p, dict):
            raise ConfigError(f"{where} must be a table")
        name = get(p, "name", str, where, None)
        base_url = get(p, "base_url", str, where, None)
        if not name or not base_url:
            raise ConfigError(f"{where} needs name and base_url")
        models = []
        for j, m in enumerate(get(p, "models", list, where, [])):
            mwhere = f"providers.{name}.models[{j}]"
            if not isinstance(m, dict) or not isinstance(m.get("name"), str):
                raise ConfigError(f"{mwhere} needs a name")
            models.append(ProviderModel(
                name=m["name"],
                upstream=get(m, "upstream", str, mwhere, m["name"]),
                input_per_mtok=get(m, "input_per_mtok", float, mwhere, 0.0),
                output_per_mtok=get(m, "output_per_mtok", float, mwhere, 0.0),
                embeddings=get(m, "embeddings", bool, mwhere, False),
            ))
        keys = get(p, "api_keys", list, where, [])
        if not all(isinstance(k, str) for k in keys):
            raise ConfigError(f"{where}.api_keys must be strings")
        cfg.providers.append(ProviderConfig(
            name=name,
            base_url=base_url.rstrip("/"),
            api_keys=[k for k in keys if k],
            timeout_s=get(p, "timeout_s", float, where, 30.0),
            weight=get(p, "weight", float, where, 1.0),
            models=models,
        ))
    return cfg.validate()


def load_config(path: Path | None) -> CoordinatorConfig:
    if path is None:
        return CoordinatorConfig().validate()
    return parse_config(read_toml(path))
