"""The coordinator's OpenAI-compatible gateway: routing policies, failover, breakers, providers and nodes.

Public surface: `GatewaySubsystem` (built by `compose.build_coordinator` with its collaborators),
`GatewaySettings` (tunables), and the fallbacks a deployment without governance is given explicitly
(`fallbacks`).
"""

from __future__ import annotations

from shareai.coordinator.gateway.settings import GatewaySettings
from shareai.coordinator.gateway.subsystem import GatewaySubsystem

__all__ = ["GatewaySettings", "GatewaySubsystem"]
