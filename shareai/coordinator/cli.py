"""`shareai-coordinator`: run the coordinator, and administer a running one through its admin API.

Verb groups live beside their subsystem (`fleet/cli.py`, `governance/cli.py`, ...) and are added
to `app` here; this module holds only `serve` and the wiring.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import typer

from shareai import aio
from shareai.coordinator.admin_client import TLS_CA_ENV
from shareai.coordinator.config import ConfigError, load_config

app = typer.Typer(help="shareai coordinator: fleet registry and OpenAI-compatible gateway.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)


def _print_version(value: bool) -> None:
    if value:
        from shareai import __version__

        typer.echo(f"shareai-coordinator {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    tls_ca: Path | None = typer.Option(None, "--tls-ca", envvar=TLS_CA_ENV, help="PEM CA that signed an https:// "
                                       "coordinator's certificate (admin verbs and smoke; else the system's CAs)."),
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """shareai coordinator: fleet registry and OpenAI-compatible gateway."""
    if tls_ca is not None:
        # Every verb group builds its client from the environment (AdminClient.from_env), so the
        # flag travels the way SHAREAI_TLS_CA does and no verb can forget it.
        os.environ[TLS_CA_ENV] = str(tls_ca.expanduser())


@app.command()
def serve(
    config: Path | None = typer.Option(None, "--config", help="TOML config file."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="State folder (SQLite, admin key hash)."),
    http_host: str | None = typer.Option(None, "--http-host"),
    http_port: int | None = typer.Option(None, "--http-port", help="OpenAI API and admin API port [8080]."),
    grpc_host: str | None = typer.Option(None, "--grpc-host", help="Control-plane address [127.0.0.1]; "
                                         "0.0.0.0 lets agents on other machines in."),
    grpc_port: int | None = typer.Option(None, "--grpc-port", help="Control-plane port for agents [50051]."),
    tls_cert: Path | None = typer.Option(None, "--tls-cert", help="PEM certificate: serve gRPC and the HTTP API "
                                         "over TLS (with --tls-key; agents then use --tls, clients https://)."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert."),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Run the coordinator (gRPC control plane + HTTP API) until SIGTERM or Ctrl-C."""
    from shareai.coordinator.compose import build_coordinator

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if data_dir is not None:
        cfg.data_dir = data_dir.expanduser()
    if http_host is not None:
        cfg.http_host = http_host
    if http_port is not None:
        cfg.http_port = http_port
    if grpc_host is not None:
        cfg.grpc_host = grpc_host
    if grpc_port is not None:
        cfg.grpc_port = grpc_port
    if tls_cert is not None or tls_key is not None:
        cfg.tls_cert = tls_cert.expanduser() if tls_cert is not None else cfg.tls_cert
        cfg.tls_key = tls_key.expanduser() if tls_key is not None else cfg.tls_key
        try:
            cfg.validate()
        except ConfigError as exc:
            typer.echo(f"error: {exc} (--tls-cert/--tls-key)", err=True)
            raise typer.Exit(2) from None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        coord = build_coordinator(cfg)
        await coord.start()
        if coord.admin.generated_key:
            typer.echo(f"Admin key (shown once, stored hashed): {coord.admin.generated_key}", err=True)
        tls = " (TLS)" if cfg.tls else ""
        typer.echo(f"shareai coordinator: http {coord.url}  grpc {coord.grpc_target}{tls}", err=True)
        try:
            await stop.wait()
        finally:
            typer.echo("shutting down...", err=True)
            await coord.stop()

    try:
        aio.run(main())
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def smoke(
    url: str = typer.Option("http://127.0.0.1:8080", "--url", help="The coordinator's HTTP URL."),
    api_key: str = typer.Option(..., "--api-key", envvar="SHAREAI_API_KEY", help="A gateway API key."),
    admin_key: str | None = typer.Option(None, "--admin-key", envvar="SHAREAI_ADMIN_KEY",
                                         help="The admin key (checks 2-5 need it)."),
    model: str = typer.Option("gemma-3-270m", "--model", help="The public model name to check."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds per request."),
) -> None:
    """Run the acceptance checklist (routes, failover, cost, cache, limits) against a deployment."""
    import json

    from shareai.coordinator.smoke import Smoke, SmokeError, all_passed, render

    try:
        rows = asyncio.run(Smoke(url, api_key, admin_key=admin_key, model=model, timeout_s=timeout,
                                 ca_file=os.environ.get(TLS_CA_ENV) or None).run())
    except SmokeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps([r.to_json() for r in rows], indent=2) if as_json else render(rows))
    raise typer.Exit(0 if all_passed(rows) else 1)


def _add_groups() -> None:
    from shareai.coordinator.fleet.cli import nodes_app, token_app

    app.add_typer(token_app, name="token")
    app.add_typer(nodes_app, name="nodes")

    from shareai.coordinator.console.cli import user_app

    app.add_typer(user_app, name="user")

    from shareai.coordinator.governance.cli import GROUPS

    for name, group in GROUPS.items():
        app.add_typer(group, name=name)


_add_groups()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
