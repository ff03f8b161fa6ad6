"""`shareai-coordinator user create|list|remove`: console users over the admin API.

    echo "$PASSWORD" | shareai-coordinator user create owner@example.com --role owner --password-stdin
    shareai-coordinator user create ann@acme.test --org acme --role admin     # prompts for the password
    shareai-coordinator user list [--org acme] [--json]
    shareai-coordinator user remove ann@acme.test

The password never appears in argv (other users can read it there): it comes from stdin
(`--password-stdin`, the first line) or from a hidden prompt. The admin key comes from
SHAREAI_ADMIN_KEY, as for every admin verb.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from typing import Any, NoReturn

import typer

from shareai.coordinator.admin_client import DEFAULT_URL, AdminClient, AdminError

user_app = typer.Typer(help="Console users: owners, org admins and members.", no_args_is_help=True)

_URL = typer.Option(DEFAULT_URL, "--url", help="The coordinator's HTTP API.", envvar="SHAREAI_COORDINATOR_URL")
_JSON = typer.Option(False, "--json", help="Machine-readable output.")


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _client(url: str) -> AdminClient:
    try:
        return AdminClient.from_env(url)
    except AdminError as exc:
        _fail(str(exc))


@user_app.command("create")
def create(
    email: str = typer.Argument(..., help="The user's email (their sign-in name)."),
    role: str = typer.Option(..., "--role", help="owner (the whole deployment), admin or member (of --org)."),
    org: str | None = typer.Option(None, "--org", help="The org of an admin or member."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
    url: str = _URL,
    as_json: bool = _JSON,
) -> None:
    """Create a console user."""
    if role not in ("owner", "admin", "member"):
        _fail("--role must be owner, admin or member", 2)
    if role != "owner" and not org:
        _fail(f"--org is required for role {role}", 2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        _fail("empty password", 2)
    body: dict[str, Any] = {"email": email, "password": password, "role": role}
    if org:
        body["org"] = org
    try:
        user = _client(url).post("/admin/v1/users", body)
    except AdminError as exc:
        _fail(str(exc))
    typer.echo(json.dumps(user, indent=2) if as_json else
               f"created {user['role']} {user['email']}" + (f" in org {user['org']}" if user["org"] else ""))


@user_app.command("list")
def list_users(org: str | None = typer.Option(None, "--org"), url: str = _URL, as_json: bool = _JSON) -> None:
    """List console users (never their password hashes)."""
    try:
        users = _client(url).get("/admin/v1/users", org=org)["data"]
    except AdminError as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(users, indent=2))
        return
    rows = [["EMAIL", "ROLE", "ORG", "CREATED", "ID"]] + [
        [u["email"], u["role"], u["org"] or "-", time.strftime("%Y-%m-%d %H:%M", time.localtime(u["created_at"])),
         u["id"]] for u in users]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    typer.echo("\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows))


@user_app.command("remove")
def remove(ident: str = typer.Argument(..., help="The user's email or id."), url: str = _URL) -> None:
    """Remove a console user (their sessions end at once)."""
    try:
        user = _client(url).delete("/admin/v1/users/" + urllib.parse.quote(ident, safe="@"))
    except AdminError as exc:
        _fail(str(exc))
    typer.echo(f"removed {user['email']}")
