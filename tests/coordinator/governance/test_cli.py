"""The governance verbs against a real coordinator, run with typer's CliRunner (in a thread, so the
coordinator keeps serving on this test's event loop)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import typer
from typer.testing import CliRunner, Result

from shareai.coordinator.app import Coordinator
from shareai.coordinator.governance import GovernanceSubsystem
from shareai.coordinator.governance.cli import GROUPS
from tests.coordinator.governance.conftest import ADMIN_KEY, usage


def _app() -> typer.Typer:
    app = typer.Typer()
    for name, group in GROUPS.items():
        app.add_typer(group, name=name)
    return app


APP = _app()


async def cli(coord: Coordinator, *args: str, key: str | None = ADMIN_KEY) -> Result:
    argv = [*args, "--url", coord.url]
    return await asyncio.to_thread(CliRunner().invoke, APP, argv, env={"SHAREAI_ADMIN_KEY": key})


async def cli_json(coord: Coordinator, *args: str) -> Any:
    result = await cli(coord, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_org_and_key_verbs(coord: Coordinator) -> None:
    r = await cli(coord, "org", "create", "acme", "--policy", "cheapest", "--cache", "deterministic",
                  "--cache-ttl", "120")
    assert r.exit_code == 0 and "created org acme" in r.stdout and "cache deterministic (ttl 120s)" in r.stdout
    org = await cli_json(coord, "org", "create", "beta", "--private")
    assert org["private"] is True
    org = await cli_json(coord, "org", "update", "beta", "--not-private", "--cache", "all")
    assert org["private"] is False and org["cache_mode"] == "all"
    r = await cli(coord, "org", "list")
    assert r.exit_code == 0 and r.stdout.splitlines()[0].split() == ["NAME", "POLICY", "PRIVATE", "CACHE", "LIMITS"]

    r = await cli(coord, "key", "create", "--org", "acme", "--name", "ci", "--models", "gemma,llama",
                  "--expires", "30d")
    assert r.exit_code == 0
    secret = r.stdout.strip()
    assert secret.startswith("sk-") and "shown once" in r.stderr
    gov: GovernanceSubsystem = coord.governance
    principal = await gov.authenticate(secret)
    assert principal.allowed_models == frozenset({"gemma", "llama"})
    keys = await cli_json(coord, "key", "list", "--org", "acme")
    assert len(keys) == 1 and keys[0]["id"] == principal.key_id
    r = await cli(coord, "key", "list")
    assert secret not in r.stdout and principal.key_id in r.stdout

    r = await cli(coord, "key", "rotate", principal.key_id, "--grace", "2h")
    assert r.exit_code == 0 and r.stdout.strip().startswith("sk-") and r.stdout.strip() != secret
    revoked = await cli_json(coord, "key", "revoke", principal.key_id)
    assert revoked["revoked_at"] is not None


async def test_limits_usage_and_audit_verbs(coord: Coordinator) -> None:
    await cli_json(coord, "org", "create", "acme")
    key = await cli_json(coord, "key", "create", "--org", "acme")
    limits = await cli_json(coord, "limits", "set", "--org", "acme", "--rpm", "60", "--tpm", "10000",
                            "--daily-tokens", "5000", "--monthly-cost", "20")
    assert (limits["rpm"], limits["tpm"], limits["daily_tokens"], limits["monthly_cost"]) == (60, 10000, 5000, 20.0)
    limits = await cli_json(coord, "limits", "set", "--org", "acme", "--key", key["id"], "--rpm", "5",
                            "--policy", "fastest")
    assert limits["scope"] == f"key:{key['id']}" and limits["policy"] == "fastest"
    r = await cli(coord, "limits", "list", "--org", "acme")
    assert r.exit_code == 0 and "org:acme" in r.stdout and f"key:{key['id']}" in r.stdout

    gov: GovernanceSubsystem = coord.governance
    now = coord.clock()
    gov.record(usage(now, key_id=key["id"], route="provider-a", cost=0.25))
    gov.record(usage(now, key_id=key["id"], route="node:n1", cost=0.0))
    report = await cli_json(coord, "usage", "report", "--by", "route", "--org", "acme", "--since", "1h")
    assert {g["group"]: g["requests"] for g in report["data"]} == {"node:n1": 1, "provider-a": 1}
    r = await cli(coord, "usage", "report", "--by", "model")
    assert r.exit_code == 0 and "total: 2 requests, 30 tokens, $0.250000" in r.stdout

    events = await cli_json(coord, "audit", "list", "--since", "1h")
    assert [e["action"] for e in events] == ["org.create", "key.create", "limits.set", "limits.set"]
    r = await cli(coord, "audit", "list", "--action", "key.")
    assert r.exit_code == 0 and "key.create" in r.stdout and "limits.set" not in r.stdout


async def test_errors_are_one_line_and_non_zero(coord: Coordinator) -> None:
    r = await cli(coord, "key", "revoke", "key_missing")
    assert r.exit_code == 1 and r.stderr.startswith("error: 404") and "Traceback" not in r.output
    r = await cli(coord, "org", "list", key="wrong")
    assert r.exit_code == 1 and "401" in r.stderr
    r = await cli(coord, "org", "list", key=None)
    assert r.exit_code == 1 and "SHAREAI_ADMIN_KEY" in r.stderr
    r = await cli(coord, "limits", "set", "--org", "acme", "--rpm", "-3")
    assert r.exit_code == 2


async def test_the_installed_entry_point_has_the_verbs(coord: Coordinator) -> None:
    """The real `shareai-coordinator` program (a subprocess), not only the verb groups."""
    env = {**os.environ, "SHAREAI_ADMIN_KEY": ADMIN_KEY}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shareai.coordinator.cli", "org", "create", "acme", "--json", "--url", coord.url,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["name"] == "acme"
    assert "acme" in coord.governance.directory.orgs
