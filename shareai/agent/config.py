"""Agent configuration: a TOML file (`--config`), overridden by flags, validated at start-up.

    [agent]
    host = "127.0.0.1"
    port = 8000
    api_key = "${AGENT_KEY}"        # optional local key; literals or ${ENV}
    max_body_bytes = 4194304

    [[models]]
    path = "/models/qwen2.5-7b-instruct-q4_k_m.gguf"   # or "bundled" for the bundled small model
    name = "qwen2.5-7b"             # the public model id (default: the file name without .gguf)
    chat_format = "chatml"          # default: the GGUF's own chat template
    slots = 2                       # parallel generations (one llama.cpp instance each)
    n_ctx = 4096
    n_gpu_layers = -1               # default: chosen from free VRAM (0 on CPU)
    queue_limit = 8                 # waiting requests beyond the busy slots; more get a 429
    backend = "llama"               # or "fake" (no model file; for tests and demos)
    embeddings = false              # true: load it for embeddings; it then serves /v1/embeddings only

Other parts of the agent add their own top-level tables: list them in `TABLES` and parse them in
`parse_config`, next to `[agent]` and `[[models]]`. Unknown keys are start-up errors naming the
key, never silently ignored; `${NAME}` is replaced by the environment variable NAME (unset: error).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shareai.agent.control.control_config import ControlConfig, ControlConfigError, parse_control
from shareai.tomlconfig import ConfigError, check_keys, expand_env, get, read_toml
from shareai.wire.http import DEFAULT_MAX_BODY_BYTES

BACKENDS = ("llama", "fake")
BUNDLED = "bundled"
TABLES = frozenset({"agent", "models", "control"})
_AGENT_KEYS = frozenset({"host", "port", "api_key", "max_body_bytes"})
_MODEL_KEYS = frozenset({"path", "name", "chat_format", "slots", "n_ctx", "n_gpu_layers", "queue_limit", "backend",
                         "embeddings"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")


@dataclass(slots=True)
class ModelSpec:
    """One served model. `path` may be `"bundled"`; `name` defaults to the file stem."""

    path: str
    name: str = ""
    chat_format: str | None = None
    slots: int = 1
    n_ctx: int = 2048
    n_gpu_layers: int | None = None  # None: from free VRAM (CPU: 0)
    queue_limit: int = 8
    backend: str = "llama"
    embeddings: bool = False  # an embedding model: /v1/embeddings only (llama.cpp loads it in embedding mode)

    def __post_init__(self) -> None:
        if not self.name:
            self.name = default_model_name(self.path)

    def validate(self, where: str = "models") -> ModelSpec:
        if self.backend not in BACKENDS:
            raise ConfigError(f"{where}.backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if not _NAME.match(self.name):
            raise ConfigError(f"{where}.name {self.name!r} must be 1-128 letters, digits or . _ : / -")
        if self.slots < 1:
            raise ConfigError(f"{where}.slots must be >= 1, got {self.slots}")
        if self.n_ctx < 16:
            raise ConfigError(f"{where}.n_ctx must be >= 16, got {self.n_ctx}")
        if self.queue_limit < 0:
            raise ConfigError(f"{where}.queue_limit must be >= 0, got {self.queue_limit}")
        if self.n_gpu_layers is not None and self.n_gpu_layers < -1:
            raise ConfigError(f"{where}.n_gpu_layers must be -1 (all), 0 or more, got {self.n_gpu_layers}")
        if self.backend == "llama" and self.path != BUNDLED and not Path(self.path).expanduser().is_file():
            raise ConfigError(f"{where}.path: model file not found: {self.path}")
        return self


def default_model_name(path: str) -> str:
    if path == BUNDLED:
        from shareai.agent.bundled import BUNDLED_MODEL_NAME

        return BUNDLED_MODEL_NAME
    return Path(path).name.removesuffix(".gguf") or "model"


@dataclass(slots=True)
class AgentConfig:
    models: list[ModelSpec] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    # `[control]`: joining a coordinator (`shareai-agent run`); see agent/control/control_config.py.
    control: ControlConfig = field(default_factory=ControlConfig)

    def validate(self) -> AgentConfig:
        if not self.models:
            raise ConfigError("no model to serve: give --model PATH or [[models]] in the config")
        for i, spec in enumerate(self.models):
            spec.validate(f"models[{i}] ({spec.name})")
        names = [m.name for m in self.models]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"models: duplicate name(s) {dup}; give each a distinct name")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"agent.port must be 0-65535, got {self.port}")
        if self.max_body_bytes < 1024:
            raise ConfigError(f"agent.max_body_bytes must be >= 1024, got {self.max_body_bytes}")
        return self

    def masked(self) -> dict[str, Any]:
        """For start-up logs: everything but secrets."""
        return {
            "listen": f"{self.host}:{self.port}",
            "api_key": "set" if self.api_key else "none",
            "max_body_bytes": self.max_body_bytes,
            "models": [
                {"name": m.name, "path": m.path, "backend": m.backend, "slots": m.slots, "n_ctx": m.n_ctx,
                 "chat_format": m.chat_format, "n_gpu_layers": m.n_gpu_layers, "queue_limit": m.queue_limit,
                 "embeddings": m.embeddings}
                for m in self.models
            ],
        }


def parse_model(table: Any, where: str) -> ModelSpec:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    check_keys(table, _MODEL_KEYS, where)
    backend = get(table, "backend", str, where, "llama")
    path = get(table, "path", str, where, BUNDLED if backend == "llama" else "")
    name = get(table, "name", str, where, "")
    if backend == "fake" and not (path or name):
        raise ConfigError(f"{where}: a fake model needs a name")
    return ModelSpec(
        path=path,
        name=name,
        chat_format=get(table, "chat_format", str, where, None),
        slots=get(table, "slots", int, where, 1),
        n_ctx=get(table, "n_ctx", int, where, 2048),
        n_gpu_layers=get(table, "n_gpu_layers", int, where, None),
        queue_limit=get(table, "queue_limit", int, where, 8),
        backend=backend,
        embeddings=get(table, "embeddings", bool, where, False),
    )


def parse_config(doc: dict[str, Any]) -> AgentConfig:
    """The config of a decoded TOML document, not yet validated (flags may still change it)."""
    doc = expand_env(doc, "config")
    check_keys(doc, TABLES, "config (top level)")
    agent = doc.get("agent", {})
    if not isinstance(agent, dict):
        raise ConfigError("[agent] must be a table")
    check_keys(agent, _AGENT_KEYS, "agent")
    models = doc.get("models", [])
    if not isinstance(models, list):
        raise ConfigError("models must be an array of tables ([[models]])")
    cfg = AgentConfig(models=[parse_model(m, f"models[{i}]") for i, m in enumerate(models)])
    cfg.host = get(agent, "host", str, "agent", cfg.host)
    cfg.port = get(agent, "port", int, "agent", cfg.port)
    cfg.api_key = get(agent, "api_key", str, "agent", None) or None
    cfg.max_body_bytes = get(agent, "max_body_bytes", int, "agent", cfg.max_body_bytes)
    if "control" in doc:
        try:
            cfg.control = parse_control(doc["control"])
        except ControlConfigError as exc:
            raise ConfigError(str(exc)) from None
    return cfg


def load_config(path: Path | None) -> AgentConfig:
    """The TOML file's config (defaults without a file); call `.validate()` once flags are applied."""
    if path is None:
        return AgentConfig()
    return parse_config(read_toml(path))
