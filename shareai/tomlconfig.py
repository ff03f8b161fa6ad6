"""TOML configuration helpers shared by the agent's and the coordinator's config files.

    doc = expand_env(read_toml(path), "config")        # ${NAME} from the environment
    port = get(doc.get("server", {}), "http_port", int, "server", 8080)

Every problem is a `ConfigError` whose message names the key, so both CLIs can print one line and
exit 2 instead of a traceback.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def expand_env(value: Any, where: str) -> Any:
    """`${NAME}` in strings (recursively) replaced by the environment; an unset one is an error
    naming it, never an empty secret."""
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in os.environ:
                raise ConfigError(f"{where}: environment variable {m.group(1)} is not set")
            return os.environ[m.group(1)]
        return _ENV.sub(sub, value)
    if isinstance(value, list):
        return [expand_env(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: expand_env(v, f"{where}.{k}") for k, v in value.items()}
    return value


def get(table: dict[str, Any], key: str, typ: type | tuple[type, ...], where: str, default: Any) -> Any:
    """`table[key]` checked against `typ` (integers are accepted where floats are asked for;
    booleans never pass for numbers), or `default` when absent."""
    if key not in table:
        return default
    value = table[key]
    name = getattr(typ, "__name__", str(typ))
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and typ is not bool:
        raise ConfigError(f"{where}.{key} must be {name}, got a boolean")
    if not isinstance(value, typ):
        raise ConfigError(f"{where}.{key} must be {name}, got {type(value).__name__}")
    return value


def check_keys(table: dict[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}")
