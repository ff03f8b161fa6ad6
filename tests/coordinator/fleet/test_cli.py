"""The `token` and `nodes` verbs against a running coordinator (the CLI runs in a thread, as its
blocking HTTP client would block the coordinator's event loop otherwise)."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from shareai import __version__
from shareai.coordinator.cli import app
from shareai.coordinator.fleet.cli import parse_duration
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from tests.coordinator.fleet.conftest import ADMIN_KEY, DEADLINE_S, Harness, creds, register_request


async def _cli(harness: Harness, *args: str, key: str = ADMIN_KEY) -> tuple[int, str, str]:
    runner = CliRunner()
    result = await asyncio.to_thread(
        runner.invoke, app, [*args, "--url", harness.coord.url], env={"SHAREAI_ADMIN_KEY": key})
    return result.exit_code, result.stdout, result.stderr


def test_parse_duration() -> None:
    assert parse_duration("90s") == 90 and parse_duration("30m") == 1800 and parse_duration("1h") == 3600
    assert parse_duration("2d") == 172800 and parse_duration("15") == 15
    for bad in ("", "1w", "-1h", "0"):
        with pytest.raises(ValueError):
            parse_duration(bad)


async def test_token_create_then_nodes_list_show_revoke(harness: Harness) -> None:
    code, out, err = await _cli(harness, "token", "create", "--org", "acme", "--ttl", "10m")
    assert code == 0, err
    token = out.strip()
    assert token.startswith("enr_") and "shown once" in err
    ident = await harness.stub.Enroll(pb.EnrollRequest(token=token, name="lab-rig"), timeout=DEADLINE_S)
    await harness.register(ident)
    code, out, _ = await _cli(harness, "token", "create", "--org", "beta", "--uses", "3", "--json")
    assert code == 0 and json.loads(out)["token"].startswith("enr_") and json.loads(out)["uses_left"] == 3
    code, out, _ = await _cli(harness, "nodes", "list")
    assert code == 0
    header, row = out.strip().splitlines()
    assert header.split()[:4] == ["ID", "NAME", "ORG", "STATUS"]
    assert row.split()[:6] == [ident.node_id, "rig", "acme", "online", "m1", "0/2"]  # Register renamed it
    code, out, _ = await _cli(harness, "nodes", "list", "--json")
    assert [n["id"] for n in json.loads(out)] == [ident.node_id]
    code, out, _ = await _cli(harness, "nodes", "show", ident.node_id)
    assert json.loads(out)["endpoint_url"] == "http://127.0.0.1:9/v1"
    code, out, _ = await _cli(harness, "nodes", "drain", ident.node_id)
    assert code == 0 and out.strip() == (f"node {ident.node_id} (rig) draining: out of routing; "
                                         "in-flight requests finish")
    assert (await harness.beat(ident)).commands[0].kind == pb.Command.DRAIN
    code, out, _ = await _cli(harness, "nodes", "revoke", ident.node_id)
    assert code == 0 and "revoked" in out
    code, out, err = await _cli(harness, "nodes", "show", "node_nope")
    assert code == 1 and err.startswith("error: 404")


async def test_bad_admin_key_and_bad_ttl_are_one_line_errors(harness: Harness) -> None:
    code, _, err = await _cli(harness, "nodes", "list", key="sa-admin-wrong")
    assert code == 1 and err.count("\n") == 1 and "401" in err
    code, _, err = await _cli(harness, "token", "create", "--org", "acme", "--ttl", "soon")
    assert code == 2 and "invalid duration" in err


async def test_nodes_list_shows_agent_versions_and_warns_on_drift(harness: Harness) -> None:
    versions = {"same": __version__, "old": "0.0.1", "silent": ""}  # "" : an agent too old to report it
    ids = {}
    for name, version in versions.items():
        ident = await harness.enroll(name=name)
        req = register_request(ident.node_id)
        req.name = name
        req.host.agent_version = version
        await harness.stub.Register(req, metadata=creds(ident), timeout=DEADLINE_S)
        ids[ident.node_id] = name
    code, out, err = await _cli(harness, "nodes", "list")
    assert code == 0, err
    lines = out.strip().splitlines()
    header = lines[0].split()
    assert "AGENT" in header
    agent_col = lines[0].index("AGENT")
    cells = {ids[line.split()[0]]: line[agent_col:].split()[0] for line in lines[1:4]}
    assert cells == {"same": __version__, "old": "0.0.1(!)", "silent": "-"}
    assert lines[4] == (f"(!) 1 node(s) run another agent version than the coordinator ({__version__}): "
                        "re-run the install one-liner on them to upgrade")
    code, out, _ = await _cli(harness, "nodes", "list", "--json")
    by_name = {n["name"]: n for n in json.loads(out)}
    assert {k: n["agent_version"] for k, n in by_name.items()} == versions
    assert {n["coordinator_version"] for n in by_name.values()} == {__version__}
