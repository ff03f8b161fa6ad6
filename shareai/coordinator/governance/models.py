"""The governance records: orgs, API keys and limits, plus the parsing of their CLI/API inputs.

    org = Org(name="acme", policy="cheapest", private=False, cache_mode="deterministic")
    key = ApiKey(id="key_ab12", org="acme", secret_hash=hash_secret(secret), ...)
    limits = Limits(rpm=60, tpm=100_000, daily_cost=5.0)

Limits live on a `scope`: `org:<name>` or `key:<id>`. A field of `None` means "no limit"; an
admin clears a limit by setting it to 0 (a limit of zero requests would be a revoked key, which
has its own verb).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from shareai.coordinator.config import POLICIES
from shareai.wire.errors import InvalidRequest

CACHE_MODES = ("off", "deterministic", "all")
DEFAULT_CACHE_TTL_S = 300.0
# How long the old secret of a rotated key keeps working, so clients can be redeployed.
DEFAULT_ROTATE_GRACE_S = 24 * 3600.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw]?)$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


@dataclass(frozen=True, slots=True)
class Org:
    name: str
    policy: str | None = None
    private: bool = False
    cache_mode: str = "off"
    cache_ttl_s: float = DEFAULT_CACHE_TTL_S
    created_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as stored: only hashes of its secrets. `prev_hash` is the rotated-out secret, valid
    until `prev_expires_at` (the rotation grace period)."""

    id: str
    org: str
    name: str
    secret_hash: str
    prefix: str  # the first characters of the secret, for listings (`sk-ab12…`)
    created_at: float
    allowed_models: tuple[str, ...] | None = None
    expires_at: float | None = None
    revoked_at: float | None = None
    prev_hash: str | None = None
    prev_expires_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        """What admins see: never a hash."""
        return {
            "id": self.id, "org": self.org, "name": self.name, "prefix": self.prefix,
            "created_at": self.created_at,
            "models": list(self.allowed_models) if self.allowed_models is not None else None,
            "expires_at": self.expires_at, "revoked_at": self.revoked_at,
            "previous_secret_valid_until": self.prev_expires_at,
        }


@dataclass(frozen=True, slots=True)
class Limits:
    rpm: int | None = None
    tpm: int | None = None
    daily_tokens: int | None = None
    monthly_tokens: int | None = None
    daily_cost: float | None = None
    monthly_cost: float | None = None
    policy: str | None = None  # routing policy (a key's overrides its org's)

    def merged(self, changes: dict[str, Any]) -> Limits:
        """Apply an update: absent fields stay, 0 (or "" for policy) clears."""
        values: dict[str, Any] = {}
        for f in fields(self):
            if f.name not in changes or changes[f.name] is None:
                continue
            v = changes[f.name]
            values[f.name] = None if v == 0 or v == "" else v
        return replace(self, **values)

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class LimitsEntry:
    scope: str  # org:<name> | key:<id>
    limits: Limits = field(default_factory=Limits)


def org_scope(org: str) -> str:
    return f"org:{org}"


def key_scope(key_id: str) -> str:
    return f"key:{key_id}"


def check_name(value: Any, param: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidRequest(
            f"'{param}' must be 1-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit.",
            param=param,
        )
    return value


def check_policy(value: Any, param: str = "policy") -> str | None:
    if value is None or value == "":
        return None
    if value not in POLICIES:
        raise InvalidRequest(f"'{param}' must be one of {', '.join(POLICIES)}; got {value!r}.", param=param)
    return str(value)


def check_cache_mode(value: Any) -> str:
    if value not in CACHE_MODES:
        raise InvalidRequest(f"'cache' must be one of {', '.join(CACHE_MODES)}; got {value!r}.", param="cache")
    return str(value)


def check_number(value: Any, param: str, *, integer: bool) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        kind = "an integer" if integer else "a number"
        raise InvalidRequest(f"'{param}' must be {kind}.", param=param)
    if value < 0:
        raise InvalidRequest(f"'{param}' must be >= 0 (0 removes the limit).", param=param)
    return value


def parse_duration(text: str | float | int, param: str = "expires") -> float:
    """`30d`, `12h`, `90m`, `45s`, `2w` or plain seconds -> seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        m = _DURATION.match(str(text).strip().lower())
        if not m:
            raise InvalidRequest(f"'{param}' must be a duration like 30d, 12h, 90m or 45s; got {text!r}.", param=param)
        seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    if seconds <= 0:
        raise InvalidRequest(f"'{param}' must be a positive duration.", param=param)
    return seconds


@dataclass(frozen=True, slots=True)
class UsageTotal:
    """Tokens and cost of one org and key since some time (quota rebuild after a restart).
    Cache hits are left out: the gateway settles them at zero, so they never used any quota."""

    org: str | None
    key_id: str
    tokens: int
    cost: float
