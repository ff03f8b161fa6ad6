"""`shareai-agent enroll` and `shareai-agent run`.

    shareai-agent enroll --token-file FILE --coordinator coord:50051 [--name lab-rig] [--data-dir DIR]
        (or SHAREAI_ENROLL_TOKEN=... in the environment; --token T works too but shows in `ps`)
    shareai-agent run [--config agent.toml] [--data-dir DIR] [serve's model flags]
                      [--price-input-per-mtok 0.05 --price-output-per-mtok 0.1]
                      [--availability idle --idle-cpu 20 --idle-gpu 10 --idle-hold 120 --window 22:00-07:00]
                      [--advertise-url http://10.0.0.5:8000/v1]

Exit codes: 0 clean stop, 1 unreachable coordinator / runtime failure, 2 bad arguments or refused
enrollment, 3 the coordinator refuses this node (revoked): enroll again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import typer

from shareai import aio
from shareai.agent.config import AgentConfig, ConfigError, load_config
from shareai.agent.control.control_config import ControlConfig, ControlConfigError
from shareai.agent.control.identity import IdentityError, NodeIdentity, default_data_dir, load_identity
from shareai.agent.control.session import NodeRefused
from shareai.agent.serve_cmd import apply_flags
from shareai.proto.fleet.v1 import fleet_pb2 as pb

log = logging.getLogger(__name__)

_DATA_DIR = typer.Option(None, "--data-dir", help="Where the node identity is kept "
                         "(default ~/.local/share/shareai-agent or $SHAREAI_AGENT_DATA_DIR).")


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def enroll_command(
    token: str | None = typer.Option(None, "--token", envvar="SHAREAI_ENROLL_TOKEN", show_envvar=True,
                                     help="Enrollment token from 'shareai-coordinator token create'. On the "
                                     "command line it is visible to other users in `ps`: prefer the "
                                     "environment variable or --token-file."),
    token_file: Path | None = typer.Option(None, "--token-file", help="Read the token from this file "
                                           "(mode 0600: a file other users can read is refused)."),
    coordinator: str = typer.Option(..., "--coordinator", help="The coordinator's gRPC address, HOST:PORT."),
    name: str = typer.Option("", "--name", help="Node name shown in listings (default: the hostname)."),
    data_dir: Path | None = _DATA_DIR,
    tls: bool = typer.Option(False, "--tls", help="Use TLS to the coordinator."),
    tls_ca: Path | None = typer.Option(None, "--tls-ca", help="CA bundle for a private CA."),
) -> None:
    """Join a coordinator: exchange the token for a node identity (kept in the data dir, mode 0600)."""
    from shareai.agent.control.enroll import EnrollmentFailed, enroll
    from shareai.agent.control.enroll_token import TokenSourceError, read_enroll_token

    try:
        token = read_enroll_token(token=token, token_file=token_file)
    except TokenSourceError as exc:
        raise _fail(str(exc), 2) from None
    folder = (data_dir or default_data_dir()).expanduser()
    host = _host_info()
    try:
        ident = asyncio.run(enroll(coordinator, token, data_dir=folder, name=name, host=host, tls=tls, ca_file=tls_ca))
    except EnrollmentFailed as exc:
        raise _fail(str(exc), exc.exit_code) from None
    except IdentityError as exc:
        raise _fail(str(exc), 2) from None
    typer.echo(f"enrolled as {ident.node_id} in org {ident.org}; identity saved in {folder} (mode 0600)")
    typer.echo(f"next: shareai-agent run --data-dir {folder}")


def _host_info() -> pb.HostInfo:
    from shareai import __version__
    from shareai.agent.hardware.detect import detect

    return detect().to_proto(agent_version=__version__)


def run_command(
    model: list[str] = typer.Option(None, "--model", help="GGUF file, or 'bundled'; repeat for several models."),
    model_name: list[str] = typer.Option(None, "--model-name", help="Public name of the i-th --model."),
    chat_format: list[str] = typer.Option(None, "--chat-format", help="Chat format of the i-th --model."),
    slots: int | None = typer.Option(None, help="Parallel generations per model."),
    n_ctx: int | None = typer.Option(None, "--n-ctx", help="Context window in tokens."),
    n_gpu_layers: int | None = typer.Option(None, "--n-gpu-layers", help="Layers on the GPU (-1: all)."),
    queue_limit: int | None = typer.Option(None, "--queue-limit", help="Waiting requests per model before 429."),
    embeddings: bool = typer.Option(False, "--embeddings", help="Serve the models as embedding models "
                                    "(/v1/embeddings only)."),
    host: str | None = typer.Option(None, help="Listen address (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Listen port (default 8000; 0 picks a free one)."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="SHAREAI_AGENT_API_KEY",
                                       help="A local key accepted besides the coordinator's secret."),
    config: Path | None = typer.Option(None, "--config", help="TOML file ([agent], [[models]], [control])."),
    data_dir: Path | None = _DATA_DIR,
    coordinator: str | None = typer.Option(None, "--coordinator", help="Override the enrolled coordinator."),
    advertise_url: str | None = typer.Option(None, "--advertise-url", help="The URL the coordinator uses to "
                                             "reach this node (default http://127.0.0.1:<port>/v1)."),
    price_input: float | None = typer.Option(None, "--price-input-per-mtok", help="USD per 1M input tokens."),
    price_output: float | None = typer.Option(None, "--price-output-per-mtok", help="USD per 1M output tokens."),
    availability: str | None = typer.Option(None, "--availability", help="always-on | idle"),
    idle_cpu: float | None = typer.Option(None, "--idle-cpu", help="Idle below this CPU % of other processes."),
    idle_gpu: float | None = typer.Option(None, "--idle-gpu", help="Idle below this GPU %."),
    idle_hold: float | None = typer.Option(None, "--idle-hold", help="Seconds idle before serving."),
    window: str | None = typer.Option(None, "--window", help="Serve only within HH:MM-HH:MM (local time)."),
    grace: float | None = typer.Option(None, "--grace", help="Seconds in-flight work may finish when leaving."),
    tls: bool = typer.Option(False, "--tls", help="Use TLS to the coordinator."),
    tls_ca: Path | None = typer.Option(None, "--tls-ca", help="CA bundle for a private CA."),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Serve models and join the coordinator: register, heartbeat, follow the availability policy."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    folder = (data_dir or default_data_dir()).expanduser()
    try:
        ident = load_identity(folder)
    except IdentityError as exc:
        raise _fail(str(exc), 2) from None
    if ident is None:
        raise _fail(f"this node is not enrolled (no identity in {folder}): "
                    "run 'shareai-agent enroll --token T --coordinator HOST:PORT' first", 2)
    try:
        cfg = load_config(config)
        c = cfg.control
        overrides = {"coordinator": coordinator, "advertise_url": advertise_url, "price_input_per_mtok": price_input,
                     "price_output_per_mtok": price_output, "availability": availability, "idle_cpu": idle_cpu,
                     "idle_gpu": idle_gpu, "idle_hold_s": idle_hold, "window": window, "grace_s": grace,
                     "tls_ca": tls_ca}
        for key, value in overrides.items():
            if value is not None:
                setattr(c, key, value)
        c.tls = c.tls or tls
        c.validate()
        cfg = apply_flags(cfg, models=model, names=model_name, formats=chat_format, slots=slots, n_ctx=n_ctx,
                          n_gpu_layers=n_gpu_layers, queue_limit=queue_limit, host=host, port=port, api_key=api_key,
                          embeddings=embeddings)
    except (ConfigError, ControlConfigError) as exc:
        raise _fail(str(exc), 2) from None
    log.info("config: %s control: %s", cfg.masked(), _masked(c))
    raise typer.Exit(aio.run(_run(cfg, ident)))


def _masked(c: ControlConfig) -> dict[str, object]:
    return {k: str(getattr(c, k)) for k in ("coordinator", "advertise_url", "availability", "window", "tls")}


async def _run(cfg: AgentConfig, ident: NodeIdentity) -> int:
    from shareai.agent.control.node import NodeAgent

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    agent = NodeAgent(cfg, ident)
    try:
        await agent.start()
    except Exception as exc:
        log.error("could not start: %s", exc)
        typer.echo(f"error: {exc}", err=True)
        await agent.stop()
        return 1
    typer.echo(f"node {ident.node_id} serving at {agent.endpoint_url}", err=True)
    stopping = asyncio.ensure_future(stop.wait())
    running = asyncio.ensure_future(agent.wait())
    try:
        await asyncio.wait({stopping, running}, return_when=asyncio.FIRST_COMPLETED)
        failure = running.exception() if running.done() else None
        if failure is not None:
            typer.echo(f"error: {failure}", err=True)
            return 3 if isinstance(failure, NodeRefused) else 1
        return 0
    finally:
        stopping.cancel()
        running.cancel()
        await agent.stop()
