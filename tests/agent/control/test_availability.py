"""The idle policy over an injected utilisation source and clock."""

from __future__ import annotations

import datetime as dt

from shareai.agent.control.availability import (
    AlwaysOnPolicy,
    AvailabilityMonitor,
    IdlePolicy,
    Utilisation,
    Window,
)
from tests.clock import ManualClock


class Source:
    def __init__(self) -> None:
        self.util = Utilisation(cpu_pct=0.0, gpu_pct=0.0)

    def sample(self) -> Utilisation:
        return self.util


NOON = dt.time(12, 0)


def test_idle_policy_needs_the_hold_time_and_turns_away_at_once() -> None:
    p = IdlePolicy(cpu_pct=20, gpu_pct=10, hold_s=60)
    assert not p.update(Utilisation(5, 0), 0, NOON)
    assert not p.update(Utilisation(5, 0), 59, NOON)
    assert p.update(Utilisation(5, 0), 60, NOON)
    assert not p.update(Utilisation(25, 0), 61, NOON)  # owner back: away at once
    assert not p.update(Utilisation(5, None), 100, NOON)  # quiet again: the hold restarts
    assert p.update(Utilisation(5, None), 160, NOON)
    assert not p.update(Utilisation(5, 10), 161, NOON)  # the GPU threshold counts too


def test_window_applies_to_both_modes() -> None:
    night = Window.parse("22:00-06:00")
    assert not IdlePolicy(hold_s=0, window=night).update(Utilisation(0, 0), 0, NOON)
    assert IdlePolicy(hold_s=0, window=night).update(Utilisation(0, 0), 0, dt.time(23, 0))
    assert AlwaysOnPolicy().update(Utilisation(100, 100), 0, NOON)
    assert not AlwaysOnPolicy(window=night).update(Utilisation(0, 0), 0, NOON)


def test_monitor_flips_away_and_back_on_the_injected_source() -> None:
    source, clock, flips = Source(), ManualClock(0.0), []
    monitor = AvailabilityMonitor(IdlePolicy(cpu_pct=20, gpu_pct=10, hold_s=30), source, flips.append,
                                  clock=clock, local_time=lambda: NOON)
    assert monitor.check() is False and flips == [False]  # not yet held idle long enough
    clock.now = 30
    assert monitor.check() is True and flips == [False, True]
    clock.now = 31
    monitor.check()
    assert flips == [False, True]  # no flip, no report
    source.util = Utilisation(cpu_pct=80, gpu_pct=0)
    clock.now = 32
    assert monitor.check() is False and flips == [False, True, False]
    source.util = Utilisation(cpu_pct=1, gpu_pct=1)
    clock.now = 40
    monitor.check()
    clock.now = 70
    assert monitor.check() is True and flips == [False, True, False, True]
