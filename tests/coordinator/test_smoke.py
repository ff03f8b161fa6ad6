"""The acceptance checklist as a command: `make smoke`'s whole local deployment passes it, and a
deployment that misses part of the checklist makes it fail (non-zero exit, FAIL rows)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import CoordinatorConfig, ProviderConfig, ProviderModel
from shareai.coordinator.smoke import Row, Smoke, all_passed, render
from shareai.testing.fake_provider import FakeProvider

ADMIN = "sa-admin-smoke-test-key"


@pytest.mark.llama
def test_make_smoke_deployment_passes_all_five_checks(tmp_path: Path) -> None:
    """Coordinator, two fake providers and a real llama.cpp node enrolled by token, as processes."""
    out = subprocess.run([sys.executable, "-m", "shareai.smoke_local", "--quiet", "--data",
                          str(tmp_path / "stack")], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "5 passed, 0 failed" in out.stdout
    table = out.stdout.splitlines()
    for check in ("routes", "failover", "cost", "cache", "limits"):
        rows = [line for line in table if line.startswith(check)]
        assert rows and all(" pass " in line + " " for line in rows), (check, rows)
    routes = {line.split()[1] for line in table if line.startswith("routes")}
    assert {"provider-a", "provider-b"} <= routes and any(r.startswith("node:") for r in routes)


async def _smoke_one_provider(tmp_path: Path, admin_key: str | None) -> tuple[list[Row], list[object]]:
    """The checklist against a coordinator with one fake provider and no node; returns the rows
    and the orgs left behind."""
    async with FakeProvider(model="m") as a:
        cfg = CoordinatorConfig(http_host="127.0.0.1", http_port=0, grpc_host="127.0.0.1", grpc_port=0,
                                data_dir=tmp_path / "c", api_keys=["sk-smoke"],
                                providers=[ProviderConfig("provider-a", a.base_url, ["k"],
                                                          models=[ProviderModel("m", "m", 0.1, 0.2)])]).validate()
        coord = build_coordinator(cfg, admin_key=ADMIN)
        await coord.start()
        try:
            rows = await Smoke(coord.url, "sk-smoke", admin_key=admin_key, model="m", timeout_s=30).run()
            orgs: list[object] = await coord.governance.store.orgs()
        finally:
            await coord.stop()
    return rows, orgs


async def test_a_deployment_without_a_node_or_second_provider_fails_the_checklist(tmp_path: Path) -> None:
    rows, orgs = await _smoke_one_provider(tmp_path, ADMIN)
    assert not all_passed(rows)
    failed = {(r.check, r.route) for r in rows if not r.ok}
    assert ("routes", "node") in failed and ("routes", "providers") in failed
    assert ("failover", "-") in failed  # only one route: nothing to fail over to
    # what the deployment does have still passes: the pinned provider, cache and limits
    assert all(r.ok for r in rows if r.check in ("cache", "limits"))
    assert any(r.ok for r in rows if r.check == "routes" and r.route == "provider-a")
    assert orgs == []  # the throwaway orgs were removed
    text = render(rows)
    assert "FAIL" in text and "routes FAILED" in text


async def test_without_the_admin_key_the_admin_checks_fail_and_say_why(tmp_path: Path) -> None:
    rows, _ = await _smoke_one_provider(tmp_path, None)
    assert not all_passed(rows)
    assert {r.check for r in rows if not r.ok} == {"routes", "failover", "cost", "cache", "limits"}
    assert all("admin-key" in r.detail for r in rows if r.check != "routes")
