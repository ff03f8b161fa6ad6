"""`shareai-coordinator token ...` and `nodes ...`: admin verbs over the running coordinator's API.

    shareai-coordinator token create --org acme --ttl 1h --uses 1
    shareai-coordinator nodes list [--org acme] [--json]
    shareai-coordinator nodes show NODE_ID
    shareai-coordinator nodes revoke NODE_ID
    shareai-coordinator nodes drain NODE_ID

The admin key comes from SHAREAI_ADMIN_KEY; `--url` points at the coordinator's HTTP port. Errors
are one line on stderr and exit code 1 (2 for bad arguments), never a traceback.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, NoReturn

import typer

from shareai.coordinator.admin_client import DEFAULT_URL, AdminClient, AdminError
from shareai.coordinator.fleet.views import load_summary

token_app = typer.Typer(help="Enrollment tokens for new nodes.", no_args_is_help=True)
nodes_app = typer.Typer(help="Enrolled nodes: list, inspect, drain, revoke.", no_args_is_help=True)

_URL = typer.Option(DEFAULT_URL, "--url", help="The coordinator's HTTP API.", envvar="SHAREAI_COORDINATOR_URL")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """"90s", "30m", "1h", "7d" or plain seconds -> seconds."""
    m = _DURATION.match(text.lower())
    if m is None or float(m.group(1)) <= 0:
        raise ValueError(f"invalid duration {text!r} (use e.g. 90s, 30m, 1h, 7d)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _client(url: str) -> AdminClient:
    try:
        return AdminClient.from_env(url)
    except AdminError as exc:
        _fail(str(exc))


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except AdminError as exc:
        _fail(str(exc))


@token_app.command("create")
def token_create(
    org: str = typer.Option(..., "--org", help="The org the enrolled node will belong to."),
    ttl: str = typer.Option("1h", "--ttl", help="Validity: 90s, 30m, 1h, 7d."),
    uses: int = typer.Option(1, "--uses", min=1, help="How many nodes may enroll with it."),
    as_json: bool = typer.Option(False, "--json", help="Print {token, id, org, expires_at, ...} as JSON."),
    url: str = _URL,
) -> None:
    """Create an enrollment token (printed once; only its hash is stored)."""
    try:
        ttl_s = parse_duration(ttl)
    except ValueError as exc:
        _fail(str(exc), 2)
    info = _call(_client(url).post, "/admin/v1/tokens", {"org": org, "ttl_s": ttl_s, "uses": uses})
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo(info["token"])
    expires = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(info["expires_at"]))
    typer.echo(f"org {info['org']}, {uses} use(s), expires {expires}; shown once, stored hashed", err=True)


def _ago(ts: float | None) -> str:
    if ts is None:
        return "never"
    secs = max(0.0, time.time() - ts)
    if secs < 120:
        return f"{secs:.0f}s ago"
    if secs < 7200:
        return f"{secs / 60:.0f}m ago"
    return f"{secs / 3600:.0f}h ago"


def version_drifts(node: dict[str, Any]) -> bool:
    """The node reported an agent version other than its coordinator's (unknown is not drift)."""
    agent, coordinator = node.get("agent_version") or "", node.get("coordinator_version") or ""
    return bool(agent and coordinator and agent != coordinator)


def _version_cell(node: dict[str, Any]) -> str:
    agent = node.get("agent_version") or "-"
    return f"{agent}(!)" if version_drifts(node) else agent


def format_table(nodes: list[dict[str, Any]]) -> str:
    header = ("ID", "NAME", "ORG", "STATUS", "MODELS", "LOAD", "GPUS", "AGENT", "LAST SEEN")
    rows = [header]
    for n in nodes:
        gpus = ", ".join(g["name"] for g in n["gpus"]) or "cpu"
        rows.append((n["id"], n["name"], n["org"], n["status"], ",".join(n["models"]) or "-",
                     load_summary(n), gpus, _version_cell(n), _ago(n["last_seen"])))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    table = "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
    drifted = [n for n in nodes if version_drifts(n)]
    if drifted:
        table += (f"\n(!) {len(drifted)} node(s) run another agent version than the coordinator "
                  f"({drifted[0]['coordinator_version']}): re-run the install one-liner on them to upgrade")
    return table


@nodes_app.command("list")
def nodes_list(
    org: str | None = typer.Option(None, "--org"),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    url: str = _URL,
) -> None:
    """List enrolled nodes with their status, models, load, GPUs, agent version and last heartbeat."""
    nodes = _call(_client(url).get, "/admin/v1/nodes", org=org)["data"]
    if as_json:
        typer.echo(json.dumps(nodes, indent=2))
    elif not nodes:
        typer.echo("no nodes enrolled yet (create a token: shareai-coordinator token create --org ORG)")
    else:
        typer.echo(format_table(nodes))


@nodes_app.command("show")
def nodes_show(node_id: str, url: str = _URL) -> None:
    """Everything the coordinator knows about one node (JSON)."""
    typer.echo(json.dumps(_call(_client(url).get, f"/admin/v1/nodes/{node_id}"), indent=2))


@nodes_app.command("revoke")
def nodes_revoke(node_id: str, url: str = _URL) -> None:
    """Revoke a node: out of routing at once, every further call refused."""
    node = _call(_client(url).post, f"/admin/v1/nodes/{node_id}/revoke")
    typer.echo(f"node {node['id']} ({node['name']}) revoked")


@nodes_app.command("drain")
def nodes_drain(node_id: str, url: str = _URL) -> None:
    """Drain a node: out of routing at once, in-flight requests finish, no new work until it restarts."""
    node = _call(_client(url).post, f"/admin/v1/nodes/{node_id}/drain")
    typer.echo(f"node {node['id']} ({node['name']}) draining: out of routing; in-flight requests finish")
