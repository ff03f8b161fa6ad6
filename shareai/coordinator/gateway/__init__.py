"""The coordinator's OpenAI-compatible gateway: routing policies, failover, breakers, providers and nodes.

Public surface: `GatewaySubsystem` (built by `compose.build_coordinator` with its collaborators),
`GatewayOptions` (tunables), and the fallbacks a deployment without governance is given explicitly
(`fallbacks`).
"""

from __future__ import annotations

from shareai.coordinator.gateway.options import GatewayOptions
from shareai.coordinator.gateway.subsystem import GatewaySubsystem

__all__ = ["GatewayOptions", "GatewaySubsystem"]
