"""The `[governance]` table of the coordinator config: parsed, validated, and used by the subsystem."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from shareai.coordinator.config import ConfigError, GovernanceConfig, parse_config
from tests.coordinator.governance.conftest import ADMIN_KEY, coordinator_config
from tests.coordinator.parts import governance_coordinator


def test_governance_table_is_parsed() -> None:
    cfg = parse_config({"governance": {"cache_max_bytes": 1024, "usage_flush_interval_s": 1}})
    assert cfg.governance == GovernanceConfig(cache_max_bytes=1024, usage_flush_interval_s=1.0)
    assert parse_config({}).governance == GovernanceConfig()  # defaults: 64 MiB, 0.5 s


@pytest.mark.parametrize(("table", "needle"), [
    ({"usage_flush_interval_s": 1.5}, "usage_flush_interval_s must be > 0 and <= 1.0"),
    ({"usage_flush_interval_s": 0}, "usage_flush_interval_s must be > 0 and <= 1.0"),
    ({"usage_flush_interval_s": "fast"}, "governance.usage_flush_interval_s must be float"),
    ({"cache_max_bytes": -1}, "governance.cache_max_bytes must be >= 0"),
    ({"cache_max_bytes": True}, "governance.cache_max_bytes must be int, got a boolean"),
    ({"cache_bytes": 5}, "governance: unknown key(s) ['cache_bytes']"),
])
def test_governance_table_is_validated_with_clear_errors(table: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"governance": table})
    assert needle in str(err.value)


async def test_subsystem_takes_cache_bound_and_flush_interval_from_config(tmp_path: Path) -> None:
    cfg = dataclasses.replace(coordinator_config(tmp_path / "data"),
                              governance=GovernanceConfig(cache_max_bytes=4096, usage_flush_interval_s=0.2))
    coord = governance_coordinator(cfg.validate(), admin_key=ADMIN_KEY)
    sub = coord.governance
    assert sub is not None
    await coord.start()
    try:
        assert sub.governor.cache.max_bytes == 4096
        assert sub.writer.interval_s == 0.2
    finally:
        await coord.stop()


async def test_explicit_subsystem_arguments_win_over_config(tmp_path: Path) -> None:
    cfg = dataclasses.replace(coordinator_config(tmp_path / "data"),
                              governance=GovernanceConfig(cache_max_bytes=4096, usage_flush_interval_s=0.2))
    coord = governance_coordinator(cfg.validate(), admin_key=ADMIN_KEY, cache_max_bytes=2048, flush_interval_s=0.1)
    sub = coord.governance
    assert sub is not None
    await coord.start()
    try:
        assert (sub.governor.cache.max_bytes, sub.writer.interval_s) == (2048, 0.1)
    finally:
        await coord.stop()
