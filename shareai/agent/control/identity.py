"""The node's identity, kept in its data dir so restarts (and re-enrollment) keep the node id.

    ident = NodeIdentity(node_id="node_...", node_secret="ns_...", org="acme", coordinator="host:50051")
    save_identity(data_dir, ident)      # identity.json, mode 0600, folder 0700
    ident = load_identity(data_dir)     # None when the node has not enrolled yet
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

IDENTITY_FILE = "identity.json"
DATA_DIR_ENV = "SHAREAI_AGENT_DATA_DIR"


class IdentityError(RuntimeError):
    """The identity file exists but cannot be used; the message says what to do."""


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    node_id: str
    node_secret: str
    org: str
    coordinator: str
    name: str = ""

    def __repr__(self) -> str:  # never print the secret by accident
        return f"NodeIdentity(node_id={self.node_id!r}, org={self.org!r}, coordinator={self.coordinator!r})"


def default_data_dir() -> Path:
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".local" / "share" / "shareai-agent"


def save_identity(data_dir: Path, ident: NodeIdentity) -> Path:
    """Write atomically, readable by the owner only from the first byte."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    path = data_dir / IDENTITY_FILE
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(ident), f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def load_identity(data_dir: Path) -> NodeIdentity | None:
    path = data_dir / IDENTITY_FILE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise IdentityError(f"cannot read {path}: {exc}; enroll again") from None
    try:
        return NodeIdentity(node_id=str(raw["node_id"]), node_secret=str(raw["node_secret"]), org=str(raw["org"]),
                            coordinator=str(raw["coordinator"]), name=str(raw.get("name", "")))
    except (KeyError, TypeError):
        raise IdentityError(f"{path} is incomplete; enroll again") from None
