"""API keys to principals: org settings, revoked/expired/unknown keys, rotation grace, bootstrap keys."""

from __future__ import annotations

import pytest

from shareai.coordinator.governance.auth import KeyAuthenticator
from shareai.coordinator.governance.directory import OrgDirectory
from shareai.coordinator.governance.models import Org
from shareai.coordinator.governance.store import MemoryGovernanceStore
from shareai.coordinator.interfaces import Principal
from shareai.wire.errors import AuthenticationError
from tests.coordinator.governance.conftest import Clock, ListAudit


class FakeAdmin:
    def is_admin(self, token: str | None) -> bool:
        return token == "sa-admin-x"


@pytest.fixture
def auth(directory: OrgDirectory, clock: Clock) -> KeyAuthenticator:
    return KeyAuthenticator(directory, admin=FakeAdmin(), bootstrap_keys=["boot-1", ""], clock=clock)


async def _reject(auth: KeyAuthenticator, token: str | None, code: str) -> None:
    with pytest.raises(AuthenticationError) as err:
        await auth.authenticate(token)
    assert err.value.status == 401 and err.value.code == code


async def test_key_resolves_to_its_org_settings(directory: OrgDirectory, auth: KeyAuthenticator) -> None:
    await directory.create_org("admin", Org("acme", policy="cheapest", private=True, cache_mode="all",
                                            cache_ttl_s=42))
    key, secret = await directory.create_key("admin", org="acme", models=("gemma",))
    assert secret.startswith("sk-") and key.secret_hash != secret and secret not in repr(key)
    assert await auth.authenticate(secret) == Principal(
        key_id=key.id, org="acme", allowed_models=frozenset({"gemma"}), policy="cheapest", private=True,
        cache_mode="all", cache_ttl_s=42)
    await directory.set_limits("admin", f"key:{key.id}", {"policy": "fastest"})
    assert (await auth.authenticate(secret)).policy == "fastest"


async def test_unknown_missing_revoked_and_expired(directory: OrgDirectory, auth: KeyAuthenticator,
                                                   clock: Clock) -> None:
    await directory.create_org("admin", Org("acme"))
    await _reject(auth, None, "missing_api_key")
    await _reject(auth, "sk-nope", "invalid_api_key")
    key, secret = await directory.create_key("admin", org="acme")
    await directory.revoke_key("admin", key.id)
    await _reject(auth, secret, "revoked_api_key")
    _, short = await directory.create_key("admin", org="acme", expires_in_s=60)
    assert (await auth.authenticate(short)).org == "acme"
    clock.advance(60)
    await _reject(auth, short, "expired_api_key")


async def test_rotation_keeps_the_old_secret_for_the_grace_period(directory: OrgDirectory, auth: KeyAuthenticator,
                                                                  clock: Clock) -> None:
    await directory.create_org("admin", Org("acme"))
    key, old = await directory.create_key("admin", org="acme")
    _, new = await directory.rotate_key("admin", key.id, grace_s=3600)
    assert new != old
    assert (await auth.authenticate(old)).key_id == key.id
    assert (await auth.authenticate(new)).key_id == key.id
    clock.advance(3600)
    await _reject(auth, old, "expired_api_key")
    assert (await auth.authenticate(new)).key_id == key.id
    _, newest = await directory.rotate_key("admin", key.id, grace_s=10)
    await _reject(auth, old, "invalid_api_key")  # two rotations ago: forgotten
    assert (await auth.authenticate(new)).key_id == key.id
    assert (await auth.authenticate(newest)).key_id == key.id


async def test_bootstrap_keys_have_no_org(auth: KeyAuthenticator) -> None:
    assert await auth.authenticate("sa-admin-x") == Principal(key_id="admin", org=None)
    assert await auth.authenticate("boot-1") == Principal(key_id="bootstrap-0", org=None)
    await _reject(auth, "", "missing_api_key")


async def test_every_change_is_audited_with_actor(clock: Clock) -> None:
    audit = ListAudit()
    d = await OrgDirectory.load(MemoryGovernanceStore(), audit, clock)
    await d.create_org("alice", Org("acme"))
    await d.update_org("alice", "acme", {"cache_mode": "all"})
    key, _ = await d.create_key("bob", org="acme")
    await d.rotate_key("bob", key.id)
    await d.set_limits("bob", "org:acme", {"rpm": 5})
    await d.revoke_key("carol", key.id)
    assert [(e["actor"], e["action"]) for e in audit.events] == [
        ("alice", "org.create"), ("alice", "org.update"), ("bob", "key.create"), ("bob", "key.rotate"),
        ("bob", "limits.set"), ("carol", "key.revoke")]
