"""Shared fixtures. The bundled model is assembled once per machine (cached) and shared."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def model_path() -> Path:
    from shareai.agent.bundled import bundled_model_path

    return bundled_model_path()
