from __future__ import annotations

from shareai.coordinator.fleet.liveness import NodeStatus, is_alive, status_of, sweep_period_s


def test_alive_until_patience_times_interval() -> None:
    assert is_alive(100.0, 115.0, 5.0, 3)
    assert not is_alive(100.0, 115.001, 5.0, 3)


def test_status_precedence() -> None:
    assert status_of(revoked=True, registered=True, alive=True, available=True) is NodeStatus.REVOKED
    assert status_of(revoked=False, registered=False, alive=True, available=True) is NodeStatus.OFFLINE
    assert status_of(revoked=False, registered=True, alive=False, available=True) is NodeStatus.OFFLINE
    assert status_of(revoked=False, registered=True, alive=True, available=False) is NodeStatus.AWAY
    assert status_of(revoked=False, registered=True, alive=True, available=True) is NodeStatus.ONLINE


def test_sweep_period_is_a_small_bounded_fraction() -> None:
    assert sweep_period_s(5.0, 3) == 0.75
    assert sweep_period_s(10.0, 3) == 1.0
    assert sweep_period_s(0.01, 1) == 0.05
