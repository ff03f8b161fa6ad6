"""Deleting an org (the acceptance check's throwaway org): its keys and limits go with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from shareai.coordinator.app import Coordinator
from shareai.wire.errors import AuthenticationError
from tests.coordinator.governance.conftest import start_coordinator
from tests.coordinator.governance.test_admin_api import call


async def test_delete_org_removes_keys_and_limits_and_survives_restart(tmp_path: Path) -> None:
    coord: Coordinator = await start_coordinator(tmp_path / "data")
    try:
        assert (await call(coord, "POST", "/admin/v1/orgs", {"name": "tmp"}))[0] == 201
        status, key = await call(coord, "POST", "/admin/v1/keys", {"org": "tmp"})
        assert status == 201
        assert (await call(coord, "POST", "/admin/v1/limits", {"org": "tmp", "rpm": 5}))[0] == 200
        assert (await call(coord, "POST", "/admin/v1/limits", {"org": "tmp", "key": key["id"], "rpm": 2}))[0] == 200
        auth = coord.governance.authenticator
        assert (await auth.authenticate(key["secret"])).org == "tmp"

        status, out = await call(coord, "DELETE", "/admin/v1/orgs/tmp")
        assert status == 200 and out["removed_keys"] == [key["id"]]
        with pytest.raises(AuthenticationError):
            await auth.authenticate(key["secret"])
        assert (await call(coord, "GET", "/admin/v1/orgs"))[1] == {"data": []}
        status, body = await call(coord, "DELETE", "/admin/v1/orgs/tmp")
        assert status == 404 and body["error"]["code"] == "org_not_found"
        (event,) = [e for e in await coord.audit.list(action_prefix="org.delete")]
        assert event.actor == "admin" and event.details == {"removed_keys": [key["id"]]}
    finally:
        await coord.stop()

    coord = await start_coordinator(tmp_path / "data")
    try:
        assert (await call(coord, "GET", "/admin/v1/orgs"))[1] == {"data": []}
        status, limits = await call(coord, "GET", "/admin/v1/limits")
        assert status == 200 and "tmp" not in str(limits)
        # the name is free again; the old key does not come back with it
        assert (await call(coord, "POST", "/admin/v1/orgs", {"name": "tmp"}))[0] == 201
        with pytest.raises(AuthenticationError):
            await coord.governance.authenticator.authenticate(key["secret"])
    finally:
        await coord.stop()
