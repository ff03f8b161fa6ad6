"""Property: whatever body and headers a client sends to the public API or the admin routes, the
answer is never a 5xx (beyond the documented 503 `no_target_available` when a request pins a route
that has no live target) and no quota reservation is left behind once the answer is complete.

A real coordinator (governance + gateway) and a fake provider (a real HTTP server) run on their own
event loop in a thread; hypothesis drives raw HTTP from the test thread (`http.client`, so bodies
may be anything: invalid UTF-8, JSON with lone surrogates, NaN, deep or odd shapes).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shareai.coordinator.app import Coordinator
from shareai.coordinator.compose import build_coordinator
from shareai.coordinator.config import CoordinatorConfig, ProviderConfig, ProviderModel
from shareai.coordinator.governance import GovernanceSubsystem
from shareai.coordinator.governance.models import Org
from shareai.testing.fake_provider import FakeProvider

T = TypeVar("T")
MODEL = "gemma"
ADMIN_KEY = "sa-admin-fuzz-0123456789abcdef"
ALLOWED_5XX = {(503, "no_target_available")}


class Served:
    """The coordinator and provider on a private event loop in a thread; `call` runs a coroutine there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-coordinator", daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


@dataclass
class World:
    served: Served
    coord: Coordinator
    gov: GovernanceSubsystem
    provider: FakeProvider
    keys: dict[str, str]  # label -> secret

    def reserved(self) -> dict[Any, Any]:
        async def read() -> dict[Any, Any]:
            return dict(self.gov.governor.ledger.reserved)
        return self.served.call(read())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    served = Served()
    data_dir: Path = tmp_path_factory.mktemp("fuzz") / "data"

    async def start() -> World:
        provider = await FakeProvider(model=MODEL, reply="fuzzed reply words", name="a").start()
        cfg = CoordinatorConfig(
            http_host="127.0.0.1", http_port=0, grpc_host="127.0.0.1", grpc_port=0, data_dir=data_dir,
            providers=[ProviderConfig(name="provider-a", base_url=provider.base_url, api_keys=["pk"],
                                      models=[ProviderModel(MODEL, MODEL, 1.0, 2.0, embeddings=True)])],
        ).validate()
        coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
        gov = coord.governance
        assert gov is not None
        await coord.start()
        d = gov.directory
        await d.create_org("admin", Org("limited", cache_mode="all", cache_ttl_s=60))
        await d.set_limits("admin", "org:limited", {"daily_tokens": 50_000_000, "tpm": 10_000_000, "rpm": 100_000})
        await d.create_org("open", Org("open"))
        keys = {"limited": (await d.create_key("admin", org="limited"))[1],
                "open": (await d.create_key("admin", org="open"))[1]}
        return World(served, coord, gov, provider, keys)

    w = served.call(start())
    try:
        yield w
    finally:
        async def stop() -> None:
            await w.coord.stop()
            await w.provider.stop()
        served.call(stop())
        served.close()


# -- strategies ----------------------------------------------------------------------------------

_text = st.one_of(st.text(max_size=24), st.sampled_from(["\ud800", "a\udfffb", "", " ", "gemma", MODEL]))
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), _text)
_json = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(_text, inner, max_size=4)),
                     max_leaves=16)
_small_int = st.one_of(st.integers(-3, 300), _json)
_part = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.one_of(_text, _json)}),
    st.fixed_dictionaries({"type": st.just("image_url"), "image_url": st.one_of(
        st.fixed_dictionaries({"url": _text}), _json)}),
    _json,
)
_message = st.fixed_dictionaries(
    {"role": st.one_of(st.sampled_from(["system", "developer", "user", "assistant", "tool"]), _json),
     "content": st.one_of(_text, st.lists(_part, max_size=3), st.none(), _json)},
    optional={"name": _json, "tool_calls": _json, "tool_call_id": _json},
)
_common = {"max_tokens": _small_int, "stream": st.one_of(st.booleans(), _json), "n": _small_int,
           "temperature": st.one_of(st.floats(), _json), "seed": _small_int,
           "stream_options": st.one_of(st.fixed_dictionaries({"include_usage": st.one_of(st.booleans(), _json)}),
                                       _json),
           "best_of": _small_int, "stop": _json, "user": _json}
_model = st.one_of(st.just(MODEL), _json)
_chat = st.fixed_dictionaries(
    {"model": _model, "messages": st.one_of(st.lists(_message, max_size=3), _json)},
    optional={**_common, "max_completion_tokens": _small_int, "tools": _json, "tool_choice": _json,
              "response_format": _json, "logprobs": _json, "top_logprobs": _json, "logit_bias": _json},
)
_completion = st.fixed_dictionaries(
    {"model": _model, "prompt": st.one_of(_text, st.lists(_text, max_size=3),
                                          st.lists(st.integers(-5, 70_000), max_size=5), _json)},
    optional={**_common, "echo": _json, "suffix": _json},
)
_embedding = st.fixed_dictionaries({"model": _model, "input": st.one_of(_text, st.lists(_text, max_size=3), _json)},
                                   optional={"encoding_format": _json, "dimensions": _json})
_admin_body = st.one_of(
    st.fixed_dictionaries({"name": st.one_of(st.from_regex(r"fz-[a-z0-9]{1,8}", fullmatch=True), _json)},
                          optional={"policy": _json, "private": _json, "cache": _json, "cache_mode": _json,
                                    "cache_ttl_s": _json}),
    st.fixed_dictionaries({"org": st.one_of(st.sampled_from(["fz-a", "nobody"]), _json)},
                          optional={"models": _json, "expires_at": _json, "name": _json}),
    st.fixed_dictionaries({"scope": st.one_of(st.sampled_from(["org:fz-a", "key:nope", "bogus"]), _json)},
                          optional={"rpm": _json, "tpm": _json, "daily_tokens": _json, "daily_cost": _json,
                                    "policy": _json}),
    _json,
)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: bytes | None
    headers: dict[str, str]


def _encode(value: Any) -> bytes:
    return json.dumps(value).encode()  # ensure_ascii: lone surrogates travel as \ud800 escapes


_header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
_auth = st.sampled_from(["limited", "open", "bogus", "none", "admin"])
_policy = st.one_of(st.none(), st.sampled_from(["cheapest", "fastest", "least-loaded", "prefer-nodes",
                                                "nodes-only", "weighted"]), _header_text)
_route = st.one_of(st.none(), st.sampled_from(["provider-a", "node", "node:abc", "provider-a,node"]), _header_text)
_raw = st.one_of(st.binary(max_size=64), st.just(b"[" * 3000 + b"]" * 3000))


@st.composite
def calls(draw: st.DrawFn) -> Call:
    kind = draw(st.sampled_from(["chat", "chat", "completions", "embeddings", "models", "model", "admin"]))
    path, strategy = {"chat": ("/v1/chat/completions", _chat), "completions": ("/v1/completions", _completion),
                      "embeddings": ("/v1/embeddings", _embedding)}.get(kind, ("", _json))
    headers: dict[str, str] = {"Content-Type": "application/json"}
    policy, route = draw(_policy), draw(_route)
    if policy is not None:
        headers["x-shareai-policy"] = policy
    if route is not None:
        headers["x-shareai-route"] = route
    auth = draw(_auth)
    if kind == "admin":
        name = draw(st.from_regex(r"fz-[a-z0-9]{1,8}", fullmatch=True))
        path = draw(st.sampled_from(["/admin/v1/orgs", "/admin/v1/keys", "/admin/v1/limits", f"/admin/v1/orgs/{name}"]))
        auth = draw(st.sampled_from(["admin", "admin", "limited", "none"]))
        body = draw(st.one_of(_admin_body.map(_encode), _raw))
    elif kind in ("models", "model"):
        body = None
        if kind == "model":
            path = "/v1/models/" + quote(draw(st.one_of(st.just(MODEL), _header_text)), safe="")
        else:
            path = "/v1/models"
    else:
        body = draw(st.one_of(strategy.map(_encode), strategy.map(_encode), _json.map(_encode), _raw))
    headers["x-fuzz-auth"] = auth
    return Call("GET" if body is None else "POST", path, body, headers)


def _send(world: World, call: Call) -> tuple[int, bytes]:
    headers = dict(call.headers)
    auth = headers.pop("x-fuzz-auth")
    secret = {"admin": ADMIN_KEY, "bogus": "sk-bogus", "none": None}.get(auth, world.keys.get(auth))
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    url = urlsplit(world.coord.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        conn.request(call.method, call.path, body=call.body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()  # the whole answer, streams to their end
    finally:
        conn.close()


@settings(max_examples=250, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(call=calls())
def test_no_5xx_and_no_leaked_reservation(world: World, call: Call) -> None:
    status, raw = _send(world, call)
    if status >= 500:
        try:
            code = json.loads(raw)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        assert (status, code) in ALLOWED_5XX, (status, raw[:300], call)
    assert b"Traceback" not in raw
    assert world.reserved() == {}, call
