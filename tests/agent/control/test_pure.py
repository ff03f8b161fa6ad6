"""Pure pieces of the agent's control side: timing, windows, identity file, [control] config."""

from __future__ import annotations

import datetime as dt
import random
import stat
from pathlib import Path

import pytest

from shareai.agent.config import ConfigError, parse_config
from shareai.agent.control.availability import Window
from shareai.agent.control.backoff import backoff_delay, jittered_interval
from shareai.agent.control.identity import IdentityError, NodeIdentity, load_identity, save_identity


def test_jitter_stays_below_the_interval() -> None:
    rng = random.Random(7)
    values = [jittered_interval(10.0, rng) for _ in range(1000)]
    assert all(8.0 <= v <= 10.0 for v in values)
    assert max(values) - min(values) > 1.0  # actually spread


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(1)
    ceilings = [max(backoff_delay(a, rng, base_s=0.5, cap_s=4.0) for _ in range(200)) for a in range(1, 8)]
    assert ceilings[0] <= 0.5 and 0.9 < ceilings[1] <= 1.0 and 1.8 < ceilings[2] <= 2.0
    assert all(c <= 4.0 for c in ceilings) and ceilings[-1] > 3.5


def test_window_parse_and_wrap() -> None:
    w = Window.parse("22:00-07:30")
    assert w.contains(dt.time(23, 0)) and w.contains(dt.time(7, 29)) and not w.contains(dt.time(12, 0))
    day = Window.parse("9:00-17:00")
    assert day.contains(dt.time(9, 0)) and not day.contains(dt.time(17, 0)) and str(day) == "09:00-17:00"
    for bad in ("22-07", "25:00-01:00", "10:00-10:00", "10:00"):
        with pytest.raises(ValueError):
            Window.parse(bad)


def test_identity_roundtrip_is_private(tmp_path: Path) -> None:
    ident = NodeIdentity(node_id="node_1", node_secret="ns_secret", org="acme", coordinator="h:1", name="rig")
    path = save_identity(tmp_path / "d", ident)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700
    assert load_identity(tmp_path / "d") == ident
    assert "ns_secret" not in repr(ident)
    assert load_identity(tmp_path / "none") is None
    path.write_text("{")
    with pytest.raises(IdentityError):
        load_identity(tmp_path / "d")


def test_control_table_parses_and_validates() -> None:
    cfg = parse_config({"control": {"availability": "idle", "idle_cpu": 15, "window": "22:00-07:00",
                                    "price_input_per_mtok": 0.1, "price_output_per_mtok": 0.2}})
    c = cfg.control.validate()
    assert (c.availability, c.idle_cpu, c.window, c.price_input_per_mtok) == ("idle", 15.0, "22:00-07:00", 0.1)
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config({"control": {"idle_cpux": 1}})
    with pytest.raises(ValueError, match="availability"):
        parse_config({"control": {"availability": "sometimes"}}).control.validate()
    with pytest.raises(ValueError, match="both"):
        parse_config({"control": {"price_input_per_mtok": 1}}).control.validate()
