"""The coordinator's OpenAI-compatible gateway: routing policies, failover, breakers, providers and nodes.

Public surface: `GatewaySubsystem` (plugs into `Coordinator`), `GatewaySettings` (tunables), and the
fallbacks used when fleet or governance are absent (`fallbacks`).
"""

from __future__ import annotations

from shareai.coordinator.gateway.settings import GatewaySettings
from shareai.coordinator.gateway.subsystem import GatewaySubsystem

__all__ = ["GatewaySettings", "GatewaySubsystem"]
