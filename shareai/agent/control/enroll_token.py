"""Where `shareai-agent enroll` reads its one-time token from, without putting it on argv.

    token = read_enroll_token(token=cli_or_env_value, token_file=path_or_none)

A token on the command line (`--token`) is visible to every user of the machine in `ps` while
enroll runs; it stays for humans typing it, but the installers pass it through the environment
(`SHAREAI_ENROLL_TOKEN`, which only the same user and root can read) or a file (`--token-file`).
A token file must be private: one that other users may read (any group/other permission bit on
POSIX) is refused, like ssh refuses a readable private key, since the token already leaked.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class TokenSourceError(ValueError):
    """No token, two tokens, or a token file that is unreadable, empty or not private."""


def read_token_file(path: Path) -> str:
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TokenSourceError(f"--token-file {path}: {exc.strerror or exc}") from None
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenSourceError(f"--token-file {path} is readable by other users (mode "
                               f"{stat.S_IMODE(info.st_mode):04o}); chmod 600 it (and consider the token leaked)")
    token = text.strip()
    if not token:
        raise TokenSourceError(f"--token-file {path} is empty")
    return token


def read_enroll_token(*, token: str | None, token_file: Path | None) -> str:
    """The token from exactly one of: --token / $SHAREAI_ENROLL_TOKEN (typer merges them), --token-file."""
    if token_file is not None:
        if token:
            raise TokenSourceError("give the token once: --token-file, or --token / $SHAREAI_ENROLL_TOKEN, not both")
        return read_token_file(token_file)
    if token and token.strip():
        return token.strip()
    raise TokenSourceError("no enrollment token: pass --token-file PATH or set SHAREAI_ENROLL_TOKEN "
                           "(--token TOKEN works too, but other users can see it in `ps`)")
