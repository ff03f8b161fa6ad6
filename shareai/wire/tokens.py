"""Secrets: generation, hashing for storage, constant-time comparison."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret(prefix: str, nbytes: int = 32) -> str:
    """A URL-safe random secret with a recognisable prefix (`sk-`, `enr_`, `ns_`, ...)."""
    return prefix + secrets.token_urlsafe(nbytes)


def hash_secret(secret: str) -> str:
    """What we store. Secrets are 256-bit random, so a plain SHA-256 is not brute-forceable."""
    return hashlib.sha256(secret.encode()).hexdigest()


def verify_secret(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
