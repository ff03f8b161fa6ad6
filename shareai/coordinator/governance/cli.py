"""`shareai-coordinator org|key|limits|usage|audit`: governance verbs over the admin API.

    shareai-coordinator org create acme --policy cheapest --cache deterministic --cache-ttl 600
    shareai-coordinator key create --org acme --name ci --models gemma-3-270m --expires 30d
    shareai-coordinator key rotate key_0123abcd --grace 1h     # old secret valid 1 h (default 24 h)
    shareai-coordinator limits set --org acme --rpm 60 --tpm 100000 --daily-cost 5
    shareai-coordinator usage report --by route --since 7d
    shareai-coordinator audit list --since 24h --json

Every verb takes `--url` and `--json`; the admin key comes from SHAREAI_ADMIN_KEY. Errors are one
line on stderr and exit 1 (2 for bad arguments), never a traceback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, NoReturn

import typer

from shareai.coordinator.admin_client import DEFAULT_URL, AdminClient, AdminError

org_app = typer.Typer(help="Orgs: routing policy, privacy, cache policy.", no_args_is_help=True)
key_app = typer.Typer(help="API keys (sk-...): create, list, revoke, rotate.", no_args_is_help=True)
limits_app = typer.Typer(help="Rate limits and quotas per org or key.", no_args_is_help=True)
usage_app = typer.Typer(help="Usage and cost reports.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log of admin actions and node events.", no_args_is_help=True)

GROUPS = {"org": org_app, "key": key_app, "limits": limits_app, "usage": usage_app, "audit": audit_app}

_URL = typer.Option(DEFAULT_URL, "--url", help="The coordinator's HTTP API.", envvar="SHAREAI_COORDINATOR_URL")
_JSON = typer.Option(False, "--json", help="Machine-readable output.")


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _call(url: str, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
    try:
        client = AdminClient.from_env(url)
        if method == "GET":
            return client.get(path, **params)
        if method == "DELETE":
            return client.delete(path)
        return client.post(path, body)
    except AdminError as exc:
        _fail(str(exc))


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [list(header)] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def _emit(data: Any, as_json: bool, human: str) -> None:
    typer.echo(json.dumps(data, indent=2) if as_json else human)


# -- org --------------------------------------------------------------------------------------------

def _org_body(policy: str | None, private: bool | None, cache: str | None, cache_ttl: float | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if policy is not None:
        body["policy"] = policy
    if private is not None:
        body["private"] = private
    if cache is not None:
        body["cache"] = cache
    if cache_ttl is not None:
        body["cache_ttl_s"] = cache_ttl
    return body


def _org_line(org: dict[str, Any]) -> str:
    return (f"org {org['name']}: policy {org['policy'] or 'default'}, "
            f"{'private (nodes only)' if org['private'] else 'not private'}, "
            f"cache {org['cache_mode']} (ttl {org['cache_ttl_s']:g}s)")


@org_app.command("create")
def org_create(
    name: str,
    policy: str | None = typer.Option(None, "--policy", help="Routing policy (cheapest, fastest, ...)."),
    private: bool = typer.Option(False, "--private", help="Route only to the org's own nodes."),
    cache: str | None = typer.Option(None, "--cache", help="off | deterministic | all"),
    cache_ttl: float | None = typer.Option(None, "--cache-ttl", help="Cache TTL in seconds."),
    as_json: bool = _JSON, url: str = _URL,
) -> None:
    """Create an org."""
    org = _call(url, "POST", "/admin/v1/orgs", {"name": name, **_org_body(policy, private, cache, cache_ttl)})
    _emit(org, as_json, "created " + _org_line(org))


@org_app.command("update")
def org_update(
    name: str,
    policy: str | None = typer.Option(None, "--policy", help="Routing policy; '' resets to the default."),
    private: bool | None = typer.Option(None, "--private/--not-private"),
    cache: str | None = typer.Option(None, "--cache", help="off | deterministic | all"),
    cache_ttl: float | None = typer.Option(None, "--cache-ttl", help="Cache TTL in seconds."),
    as_json: bool = _JSON, url: str = _URL,
) -> None:
    """Change an org's policy, privacy or cache settings (unset flags stay as they are)."""
    org = _call(url, "POST", f"/admin/v1/orgs/{name}", _org_body(policy, private, cache, cache_ttl))
    _emit(org, as_json, "updated " + _org_line(org))


@org_app.command("delete")
def org_delete(name: str, as_json: bool = _JSON, url: str = _URL) -> None:
    """Delete an org: its keys stop working at once, its limits go, its enrollment tokens and nodes
    are revoked; its usage stays in reports."""
    out = _call(url, "DELETE", f"/admin/v1/orgs/{name}")
    _emit(out, as_json, f"deleted org {name} and its {len(out['removed_keys'])} key(s); revoked "
                        f"{len(out.get('revoked_nodes', []))} node(s), {len(out.get('revoked_tokens', []))} token(s)")


@org_app.command("list")
def org_list(as_json: bool = _JSON, url: str = _URL) -> None:
    """List orgs with their policies and limits."""
    orgs = _call(url, "GET", "/admin/v1/orgs")["data"]
    rows = []
    for o in orgs:
        lim = o["limits"] or {}
        shown = ", ".join(f"{k}={v:g}" for k, v in lim.items() if v is not None and k != "policy") or "none"
        rows.append((o["name"], o["policy"] or "default", "yes" if o["private"] else "no",
                     f"{o['cache_mode']}/{o['cache_ttl_s']:g}s", shown))
    _emit(orgs, as_json, _table(("NAME", "POLICY", "PRIVATE", "CACHE", "LIMITS"), rows) if orgs else "no orgs yet")


# -- key --------------------------------------------------------------------------------------------

@key_app.command("create")
def key_create(
    org: str = typer.Option(..., "--org"),
    name: str = typer.Option("", "--name"),
    models: str | None = typer.Option(None, "--models", help="Comma-separated allowed models (default: all)."),
    expires: str | None = typer.Option(None, "--expires", help="Lifetime: 30d, 12h, 90m."),
    as_json: bool = _JSON, url: str = _URL,
) -> None:
    """Create an API key; its secret is printed once and stored only hashed."""
    body: dict[str, Any] = {"org": org, "name": name, "expires": expires}
    if models is not None:
        body["models"] = [m.strip() for m in models.split(",") if m.strip()]
    key = _call(url, "POST", "/admin/v1/keys", body)
    if as_json:
        typer.echo(json.dumps(key, indent=2))
        return
    typer.echo(key["secret"])
    typer.echo(f"key {key['id']} for org {key['org']}, expires {_when(key['expires_at'])}; "
               "shown once, stored hashed", err=True)


@key_app.command("list")
def key_list(org: str | None = typer.Option(None, "--org"), as_json: bool = _JSON, url: str = _URL) -> None:
    """List API keys (never their secrets)."""
    keys = _call(url, "GET", "/admin/v1/keys", org=org)["data"]
    rows = [(k["id"], k["org"], k["name"] or "-", k["prefix"] + "…", ",".join(k["models"]) if k["models"] else "all",
             _when(k["expires_at"]), "revoked" if k["revoked_at"] else "active") for k in keys]
    _emit(keys, as_json,
          _table(("ID", "ORG", "NAME", "SECRET", "MODELS", "EXPIRES", "STATUS"), rows) if keys else "no keys")


@key_app.command("revoke")
def key_revoke(key_id: str, as_json: bool = _JSON, url: str = _URL) -> None:
    """Revoke a key: every further request with it is a 401."""
    key = _call(url, "POST", f"/admin/v1/keys/{key_id}/revoke")
    _emit(key, as_json, f"key {key['id']} revoked")


@key_app.command("rotate")
def key_rotate(
    key_id: str,
    grace: str = typer.Option("24h", "--grace", help="How long the old secret keeps working."),
    as_json: bool = _JSON, url: str = _URL,
) -> None:
    """Give a key a new secret; the old one stays valid for the grace period (default 24h)."""
    key = _call(url, "POST", f"/admin/v1/keys/{key_id}/rotate", {"grace": grace})
    if as_json:
        typer.echo(json.dumps(key, indent=2))
        return
    typer.echo(key["secret"])
    typer.echo(f"key {key['id']} rotated; the old secret works until "
               f"{_when(key['previous_secret_valid_until'])}", err=True)


# -- limits -----------------------------------------------------------------------------------------

@limits_app.command("set")
def limits_set(
    org: str = typer.Option(..., "--org"),
    key: str | None = typer.Option(None, "--key", help="Limit one key of the org instead of the org."),
    rpm: int | None = typer.Option(None, "--rpm", min=0, help="Requests per minute (0 removes the limit)."),
    tpm: int | None = typer.Option(None, "--tpm", min=0, help="Tokens per minute."),
    daily_tokens: int | None = typer.Option(None, "--daily-tokens", min=0),
    monthly_tokens: int | None = typer.Option(None, "--monthly-tokens", min=0),
    daily_cost: float | None = typer.Option(None, "--daily-cost", min=0, help="USD per UTC day."),
    monthly_cost: float | None = typer.Option(None, "--monthly-cost", min=0, help="USD per UTC month."),
    policy: str | None = typer.Option(None, "--policy", help="Routing policy of the org (or key)."),
    as_json: bool = _JSON, url: str = _URL,
) -> None:
    """Set rate limits, quotas or the routing policy; unset flags stay as they are, 0 removes a limit."""
    body: dict[str, Any] = {"org": org, "key": key, "rpm": rpm, "tpm": tpm, "daily_tokens": daily_tokens,
                            "monthly_tokens": monthly_tokens, "daily_cost": daily_cost, "monthly_cost": monthly_cost}
    if policy is not None:
        body["policy"] = policy
    result = _call(url, "POST", "/admin/v1/limits", body)
    shown = ", ".join(f"{k}={v}" for k, v in result.items() if k not in ("scope", "org") and v is not None)
    _emit(result, as_json, f"{result['scope']}: {shown or 'no limits'}")


@limits_app.command("list")
def limits_list(org: str | None = typer.Option(None, "--org"), as_json: bool = _JSON, url: str = _URL) -> None:
    """Show the limits of every org and key (or of one org)."""
    data = _call(url, "GET", "/admin/v1/limits", org=org)["data"]
    cols = ("rpm", "tpm", "daily_tokens", "monthly_tokens", "daily_cost", "monthly_cost", "policy")
    rows = [(d["scope"], *(d[c] for c in cols)) for d in data]
    _emit(data, as_json, _table(("SCOPE", *(c.upper() for c in cols)), rows) if data else "no limits set")


# -- usage and audit --------------------------------------------------------------------------------

def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


@usage_app.command("report")
def usage_report(
    by: str = typer.Option("model", "--by", help="model | route | org | key | day"),
    org: str | None = typer.Option(None, "--org"),
    since: str | None = typer.Option(None, "--since", help="24h, 7d, an ISO date, or epoch seconds "
                                     "[default: the last 30 days]."),
    as_json: bool = _JSON, url: str = _URL,
) -> None:
    """Requests, tokens, cost and p50/p95 latency per group."""
    report = _call(url, "GET", "/admin/v1/usage", by=by, org=org, since=since)
    rows = [(g["group"], g["requests"], g["errors"], g["cache_hits"], g["prompt_tokens"], g["completion_tokens"],
             f"{g['cost_usd']:.6f}", f"{g['cost_per_request_usd']:.6f}", _ms(g["latency_p50_ms"]),
             _ms(g["latency_p95_ms"])) for g in report["data"]]
    total = report["total"]
    human = (_table((by.upper(), "REQUESTS", "ERRORS", "CACHED", "PROMPT", "COMPLETION", "COST_USD", "USD/REQ",
                     "P50_MS", "P95_MS"), rows)
             + f"\ntotal: {total['requests']} requests, {total['total_tokens']} tokens, ${total['cost_usd']:.6f}")
    _emit(report, as_json, human if rows else "no usage recorded in this window")


@audit_app.command("list")
def audit_list(
    since: str | None = typer.Option(None, "--since", help="24h, 7d, an ISO date, or epoch seconds."),
    action: str | None = typer.Option(None, "--action", help="Only actions starting with this (key., org., ...)."),
    as_json: bool = _JSON, url: str = _URL,
) -> None:
    """Admin actions and node lifecycle events, oldest first, with actor and time."""
    events = _call(url, "GET", "/admin/v1/audit", since=since, action=action)["data"]
    rows = [(_when(e["ts"]), e["actor"], e["action"], e["target"],
             json.dumps(e["details"], sort_keys=True, separators=(",", ":"))) for e in events]
    _emit(events, as_json, _table(("TIME", "ACTOR", "ACTION", "TARGET", "DETAILS"), rows) if events else "no events")
