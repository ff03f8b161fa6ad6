"""`shareai-agent serve`: local GGUF models behind an OpenAI-compatible endpoint.

    shareai-agent serve                                   # the bundled small model
    shareai-agent serve --model a.gguf --model-name a --model b.gguf --model-name b --chat-format chatml
    shareai-agent serve --config agent.toml --port 9000   # flags win over the file

`--model` repeats; the i-th `--model-name` / `--chat-format` goes with the i-th `--model`. Without
`--model`, the TOML's `[[models]]` are served (the name/format flags then apply to them in order),
and with neither, the bundled model. `--slots`, `--n-ctx`, `--n-gpu-layers`, `--queue-limit`
and `--embeddings` apply to every model (`--embeddings`: load them as embedding models, served on
`/v1/embeddings` only; `embeddings = true` in a `[[models]]` table does it for one model). The
endpoint listens at once and answers /health with 503 until the models are loaded. SIGTERM or
Ctrl-C stops gracefully: new requests get 503, in-flight ones get `--grace` seconds to finish, then
are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import typer

from shareai import aio
from shareai.agent.config import BUNDLED, AgentConfig, ConfigError, ModelSpec, load_config
from shareai.agent.server import AgentServer
from shareai.agent.slots import ModelPool, load_pools

log = logging.getLogger(__name__)


def apply_flags(
    cfg: AgentConfig,
    *,
    models: list[str] | None = None,
    names: list[str] | None = None,
    formats: list[str] | None = None,
    slots: int | None = None,
    n_ctx: int | None = None,
    n_gpu_layers: int | None = None,
    queue_limit: int | None = None,
    host: str | None = None,
    port: int | None = None,
    api_key: str | None = None,
    embeddings: bool = False,
) -> AgentConfig:
    """`cfg` with the command-line flags applied (flags win), validated."""
    names, formats = names or [], formats or []
    if models:
        cfg.models = [ModelSpec(path=m) for m in models]
    elif not cfg.models:
        cfg.models = [ModelSpec(path=BUNDLED)]
    if len(names) > len(cfg.models):
        raise ConfigError(f"{len(names)} --model-name for {len(cfg.models)} model(s): give one per --model")
    if len(formats) > len(cfg.models):
        raise ConfigError(f"{len(formats)} --chat-format for {len(cfg.models)} model(s): give one per --model")
    for spec, name in zip(cfg.models, names, strict=False):
        spec.name = name
    for spec, fmt in zip(cfg.models, formats, strict=False):
        spec.chat_format = fmt
    for spec in cfg.models:
        if slots is not None:
            spec.slots = slots
        if n_ctx is not None:
            spec.n_ctx = n_ctx
        if n_gpu_layers is not None:
            spec.n_gpu_layers = n_gpu_layers
        if queue_limit is not None:
            spec.queue_limit = queue_limit
        spec.embeddings = spec.embeddings or embeddings
    if host is not None:
        cfg.host = host
    if port is not None:
        cfg.port = port
    if api_key:
        cfg.api_key = api_key
    return cfg.validate()


async def run_server(
    cfg: AgentConfig, *, grace_s: float = 30.0, stop: asyncio.Event | None = None,
    load: Callable[[Sequence[ModelSpec]], Coroutine[Any, Any, list[ModelPool]]] = load_pools,
) -> int:
    """Serve until SIGTERM/SIGINT (or `stop` is set); the exit code. `load` builds the pools (tests
    pass one that waits, to see the endpoint while it loads)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows, or not the main thread
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    server = AgentServer([], api_key=cfg.api_key, max_body_bytes=cfg.max_body_bytes)
    port = await server.start(cfg.host, cfg.port)
    typer.echo(f"shareai-agent listening on http://{cfg.host}:{port}/v1 (loading models...)", err=False)
    loading = asyncio.create_task(load(cfg.models))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({loading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not loading.done():
            loading.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await loading
            return 0
        try:
            pools = loading.result()
        except Exception as exc:
            log.error("could not load the models: %s", exc)
            typer.echo(f"error: {exc}", err=True)
            return 1
        server.set_models(pools)
        typer.echo("ready: " + ", ".join(p.name for p in pools), err=False)
        await stopping
        log.info("stopping: no new requests, %d in flight get %.0fs", server.inflight, grace_s)
        server.set_accepting(False)
        if not await server.wait_idle(grace_s):
            log.warning("grace period over: cancelling %d generation(s)", server.inflight)
        return 0
    finally:
        stopping.cancel()
        await server.stop()
        for sig in handled:
            loop.remove_signal_handler(sig)


def serve(
    model: list[str] = typer.Option(None, "--model", help="GGUF file, or 'bundled'; repeat for several models."),
    model_name: list[str] = typer.Option(None, "--model-name", help="Public name of the i-th --model."),
    chat_format: list[str] = typer.Option(None, "--chat-format", help="Chat format of the i-th --model "
                                          "(default: the GGUF's template; 'gemma' for the bundled model)."),
    slots: int | None = typer.Option(None, help="Parallel generations per model (one model instance each)."),
    n_ctx: int | None = typer.Option(None, "--n-ctx", help="Context window in tokens."),
    n_gpu_layers: int | None = typer.Option(None, "--n-gpu-layers", help="Layers on the GPU (-1: all; "
                                            "default: from free VRAM)."),
    queue_limit: int | None = typer.Option(None, "--queue-limit", help="Waiting requests per model before 429."),
    embeddings: bool = typer.Option(False, "--embeddings", help="Serve the models as embedding models "
                                    "(/v1/embeddings only)."),
    host: str | None = typer.Option(None, help="Listen address (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Listen port (default 8000; 0 picks a free one)."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="SHAREAI_AGENT_API_KEY",
                                       help="Require this bearer key."),
    config: Path | None = typer.Option(None, "--config", help="TOML file (see shareai/agent/config.py)."),
    grace: float = typer.Option(30.0, help="Seconds in-flight requests get to finish on shutdown."),
    log_level: str = typer.Option("info", "--log-level"),
) -> None:
    """Serve local GGUF models as an OpenAI-compatible endpoint."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = apply_flags(
            load_config(config), models=model, names=model_name, formats=chat_format, slots=slots, n_ctx=n_ctx,
            n_gpu_layers=n_gpu_layers, queue_limit=queue_limit, host=host, port=port, api_key=api_key,
            embeddings=embeddings,
        )
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    log.info("config: %s", cfg.masked())
    code = aio.run(run_server(cfg, grace_s=grace))
    if code:
        raise typer.Exit(code)
