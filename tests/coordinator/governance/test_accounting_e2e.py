"""Accounting through a real coordinator (fake provider as a real HTTP server, the `openai` SDK):
the usage report counts every answered request exactly while readers flush concurrently, and a
database that refuses usage rows blocks admission with 503 `accounting_backlog` instead of losing
records or buffering without bound."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from shareai.coordinator.app import Coordinator
from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import CoordinatorConfig, GovernanceConfig, ProviderConfig, ProviderModel
from shareai.coordinator.governance import GovernanceSubsystem
from shareai.coordinator.governance.models import Org
from shareai.testing.fake_provider import FakeProvider
from tests.coordinator.gateway.helpers import eventually
from tests.coordinator.governance.conftest import ADMIN_KEY

MODEL = "gemma"
MESSAGES: list[Any] = [{"role": "user", "content": "say hello"}]
TIMEOUT = aiohttp.ClientTimeout(total=60)


@dataclass
class Stack:
    coord: Coordinator
    gov: GovernanceSubsystem
    provider: FakeProvider
    db_path: Path

    async def key(self, org: str = "acme") -> str:
        if org not in self.gov.directory.orgs:
            await self.gov.directory.create_org("admin", Org(org))
        _, secret = await self.gov.directory.create_key("admin", org=org)
        return secret

    def client(self, key: str) -> AsyncOpenAI:
        return AsyncOpenAI(base_url=self.coord.url + "/v1", api_key=key, max_retries=0, timeout=30)

    def rows(self) -> list[tuple[str, int]]:
        """(key_id, status) of every usage row, read by a separate connection: what is on disk."""
        conn = sqlite3.connect(self.db_path)
        try:
            return list(conn.execute("SELECT key_id, status FROM usage_records ORDER BY id"))
        finally:
            conn.close()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    provider = await FakeProvider(model=MODEL, reply="hello there friend", name="a").start()
    cfg = CoordinatorConfig(
        http_host="127.0.0.1", http_port=0, grpc_host="127.0.0.1", grpc_port=0, data_dir=tmp_path / "data",
        providers=[ProviderConfig(name="provider-a", base_url=provider.base_url, api_keys=["pk"],
                                  models=[ProviderModel(MODEL, MODEL, 1.0, 2.0)])],
        # A short flush interval makes the timer's flushes meet the readers' flushes often.
        governance=GovernanceConfig(usage_flush_interval_s=0.005),
    ).validate()
    coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
    gov = coord.governance
    assert gov is not None
    await coord.start()
    try:
        yield Stack(coord, gov, provider, tmp_path / "data" / "coordinator.db")
    finally:
        await coord.stop()
        await provider.stop()


async def _admin(session: aiohttp.ClientSession, coord: Coordinator, path: str, **params: str) -> tuple[int, Any]:
    async with session.get(coord.url + path, params=params, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as r:
        return r.status, await r.json()


async def test_report_counts_every_request_while_readers_poll(stack: Stack) -> None:
    n = 200
    secret = await stack.key()
    done = asyncio.Event()
    polls = {"usage": 0, "audit": 0}

    async def reader(path: str, name: str) -> None:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
            while not done.is_set():
                status, body = await _admin(s, stack.coord, path, by="org")
                assert status == 200, body
                polls[name] += 1

    async with stack.client(secret) as c:
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> str | None:
            async with sem:
                r = await c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"hi {i}"}])
                return r.choices[0].message.content

        readers = [asyncio.ensure_future(reader("/admin/v1/usage", "usage")),
                   asyncio.ensure_future(reader("/admin/v1/audit", "audit"))]
        answers = await asyncio.gather(*(one(i) for i in range(n)))
        done.set()
        await asyncio.gather(*readers)
    assert answers == ["hello there friend"] * n
    assert polls["usage"] > 0 and polls["audit"] > 0
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
        status, report = await _admin(s, stack.coord, "/admin/v1/usage", by="org")
    assert status == 200
    assert report["total"]["requests"] == n
    assert [(g["group"], g["requests"], g["errors"]) for g in report["data"]] == [("acme", n, 0)]
    assert len(stack.rows()) == n  # no duplicate rows on disk either


async def test_a_failing_database_blocks_admission_with_503_and_loses_nothing(stack: Stack) -> None:
    bound = 5
    stack.gov.writer.max_pending = bound
    secret = await stack.key()
    # The database itself refuses usage rows (another connection adds a trigger that aborts every
    # insert), as a full or failing disk would; everything else keeps working.
    conn = sqlite3.connect(stack.db_path)
    conn.execute("CREATE TRIGGER refuse_usage BEFORE INSERT ON usage_records "
                  "BEGIN SELECT RAISE(ABORT, 'disk is failing (test)'); END")
    conn.commit()
    answered, refused = 0, []
    async with stack.client(secret) as c:
        for _ in range(bound):
            r = await c.chat.completions.create(model=MODEL, messages=MESSAGES)
            assert r.choices[0].message.content == "hello there friend"
            answered += 1
        await eventually(lambda: stack.gov.writer.failures >= 1)
        for _ in range(3):
            with pytest.raises(openai.APIStatusError) as err:
                await c.chat.completions.create(model=MODEL, messages=MESSAGES)
            refused.append(err.value)
        calls_while_blocked = stack.provider.calls
        async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
            status, body = await _admin(s, stack.coord, "/admin/v1/usage")
        assert status == 503 and body["error"]["code"] == "accounting_backlog"  # an incomplete report is refused
        assert stack.rows() == []  # nothing reached the disk ...
        assert stack.gov.writer.pending == bound  # ... nothing was dropped, and refusals add no backlog
        async with aiohttp.ClientSession(timeout=TIMEOUT) as s, s.get(
                stack.coord.url + "/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as m:
            metrics = await m.text()
        # The refusals are visible where they cost no write: the gateway's request counter.
        assert re.search(r'^shareai_gateway_requests_total\{[^}]*status="503"[^}]*\} 3(\.0)?$', metrics, re.M), metrics

        conn.execute("DROP TRIGGER refuse_usage")  # the disk recovers
        conn.commit()
        conn.close()
        await eventually(lambda: stack.gov.writer.pending == 0)
        r = await c.chat.completions.create(model=MODEL, messages=MESSAGES)
        answered += 1
    for e in refused:
        assert e.status_code == 503 and e.code == "accounting_backlog"
        assert e.body is not None and set(e.body) >= {"message", "type", "param", "code"}  # type: ignore[arg-type]
        assert int(e.response.headers["retry-after"]) >= 1
    assert calls_while_blocked == bound  # refused requests never reached the provider
    await stack.gov.writer.flush()
    statuses = [status for _, status in stack.rows()]
    assert statuses == [200] * answered  # every answered request, once; the refused ones served nothing


async def test_audit_list_is_503_not_incomplete_while_audit_events_cannot_be_written(stack: Stack) -> None:
    conn = sqlite3.connect(stack.db_path)
    conn.execute("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
                 "BEGIN SELECT RAISE(ABORT, 'disk is failing (test)'); END")
    conn.commit()
    await stack.gov.directory.create_org("admin", Org("acme"))  # audited: org.create
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s:
        status, body = await _admin(s, stack.coord, "/admin/v1/audit")
        assert status == 503 and body["error"]["code"] == "accounting_backlog"
        conn.execute("DROP TRIGGER refuse_audit")
        conn.commit()
        conn.close()
        status, body = await _admin(s, stack.coord, "/admin/v1/audit")
    assert status == 200 and [e["action"] for e in body["data"]] == ["org.create"]
