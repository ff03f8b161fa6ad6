"""Admin authentication for the coordinator's admin API (`/admin/v1/...`).

The admin key comes from `SHAREAI_ADMIN_KEY`, or is generated at first start and printed once.
Only its SHA-256 is stored (`admin_key.sha256` in the data dir, mode 0600); when the environment
variable is set, its hash replaces the stored one, so rotating the key is setting the variable.
"""

from __future__ import annotations

import os
from pathlib import Path

from aiohttp import web

from shareai.wire.errors import AuthenticationError
from shareai.wire.http import bearer_token
from shareai.wire.tokens import hash_secret, new_secret, verify_secret

ADMIN_KEY_ENV = "SHAREAI_ADMIN_KEY"
ADMIN_KEY_PREFIX = "sa-admin-"


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600 from creation, never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class AdminAuth:
    def __init__(self, key_hash: str, generated_key: str | None = None) -> None:
        self._hash = key_hash
        # Set only on the start that generated the key, so the CLI can print it once.
        self.generated_key = generated_key

    @classmethod
    def load(cls, data_dir: Path, env_key: str | None = None) -> AdminAuth:
        env_key = env_key if env_key is not None else os.environ.get(ADMIN_KEY_ENV)
        path = data_dir / "admin_key.sha256"
        if env_key:
            write_private(path, hash_secret(env_key) + "\n")
            return cls(hash_secret(env_key))
        if path.exists():
            return cls(path.read_text().strip())
        key = new_secret(ADMIN_KEY_PREFIX)
        write_private(path, hash_secret(key) + "\n")
        return cls(hash_secret(key), generated_key=key)

    def is_admin(self, token: str | None) -> bool:
        return bool(token) and verify_secret(token or "", self._hash)

    def require(self, request: web.Request) -> str:
        """Returns the actor name for the audit log; raises 401 otherwise."""
        token = bearer_token(request)
        if token is None:
            raise AuthenticationError("Missing admin key: send 'Authorization: Bearer <admin key>'.")
        if not self.is_admin(token):
            raise AuthenticationError("Invalid admin key.")
        return "admin"
