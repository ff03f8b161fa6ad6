"""Tunables of the gateway that are not (yet) in the TOML config, with defaults that suit most fleets.

    build_coordinator(config, gateway_options=GatewayOptions(breaker_cooldown_s=2.0, clock=fake_clock))

`clock` drives circuit breakers and key parking (monotonic seconds); tests pass a fake one.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class GatewayOptions:
    breaker_threshold: int = 3  # consecutive failures that open a target's circuit
    breaker_cooldown_s: float = 10.0  # first cooldown; doubles on each failed probe, up to the max
    breaker_max_cooldown_s: float = 300.0
    probe_timeout_s: float = 5.0  # `GET /models` health probe of a provider
    probe_interval_s: float = 2.0  # how often the background loop looks for providers due a probe
    node_timeout_s: float = 120.0  # nodes have no per-target timeout in config
    connect_timeout_s: float = 5.0
    provider_capacity: int = 32  # in-flight requests a provider counts as "fully loaded" for least-loaded
    # The one completion cap for requests that name none: reserved by quotas and `tpm`, and forwarded
    # upstream as `max_tokens` where such a token limit applies (docs/architecture.md, Governance).
    default_max_tokens: int = 256
    usage_memory: int = 1000  # records the no-op governor keeps
    max_connections: int = 1024  # the shared client session's connection pool
    max_connections_per_host: int = 256
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
