"""shareai: one OpenAI-compatible API over your own machines and third-party providers."""

from __future__ import annotations

__version__ = "0.1.0"
