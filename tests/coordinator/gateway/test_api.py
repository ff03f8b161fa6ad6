"""The OpenAI surface: answers, headers, model rewriting, validation and error shapes, /v1/models."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai
import pytest

from tests.coordinator.gateway.helpers import ADMIN_KEY, KEY, MODEL, StaticDirectory, node_route, provider


async def test_chat_through_a_provider_rewrites_model_and_reports_route_attempts_cost(fakes: Any,
                                                                                     gateway: Any) -> None:
    up = await fakes(model="gemma-upstream", reply="four words of reply")
    g = await gateway([provider("provider-a", up, price=(1.0, 2.0))])
    raw = await g.client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "hi there"}], max_tokens=8)
    resp = raw.parse()
    assert resp.choices[0].message.content == "four words of reply"
    assert raw.headers["x-shareai-route"] == "provider-a"
    assert raw.headers["x-shareai-attempts"] == "1"
    # usage: 2 prompt words, 4 reply words at $1 / $2 per 1M tokens
    assert float(raw.headers["x-shareai-cost-usd"]) == pytest.approx((2 * 1.0 + 4 * 2.0) / 1e6)
    assert up.bodies[0]["model"] == "gemma-upstream"
    assert up.keys_seen == ["key-provider-a"]
    rec = g.records()[-1]
    assert (rec.route, rec.status, rec.prompt_tokens, rec.completion_tokens) == ("provider-a", 200, 2, 4)
    assert rec.model == MODEL and rec.key_id == "config:0" and not rec.stream


async def test_admin_key_is_accepted_and_unknown_keys_get_401(fakes: Any, gateway: Any) -> None:
    up = await fakes()
    g = await gateway([provider("provider-a", up)])
    admin = openai.AsyncOpenAI(base_url=g.url + "/v1", api_key=ADMIN_KEY, max_retries=0, timeout=10)
    bad = openai.AsyncOpenAI(base_url=g.url + "/v1", api_key="sk-wrong", max_retries=0, timeout=10)
    try:
        ok = await admin.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
        assert ok.choices[0].message.content
        with pytest.raises(openai.AuthenticationError) as exc:
            await bad.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
        assert exc.value.body["code"] == "invalid_api_key"  # type: ignore[index]
    finally:
        await admin.close()
        await bad.close()
    assert up.calls == 1


async def test_invalid_bodies_are_rejected_before_any_upstream_work(fakes: Any, gateway: Any) -> None:
    up = await fakes()
    g = await gateway([provider("provider-a", up)], max_body_bytes=2048)
    with pytest.raises(openai.BadRequestError) as exc:
        await g.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}],
                                               temperature=7)
    assert exc.value.body["param"] == "temperature"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        await g.client.chat.completions.create(model=MODEL, messages=[])
    with pytest.raises(openai.APIStatusError) as big:
        await g.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x" * 5000}])
    assert big.value.status_code == 413
    with pytest.raises(openai.NotFoundError) as missing:
        await g.client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert missing.value.body["code"] == "model_not_found"  # type: ignore[index]
    assert up.calls == 0
    assert [r.status for r in g.records()] == [400, 400, 413, 404]


async def test_unknown_request_fields_are_forwarded(fakes: Any, gateway: Any) -> None:
    up = await fakes()
    g = await gateway([provider("provider-a", up)])
    await g.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}],
                                           extra_body={"tools_hint": {"a": 1}, "seed": 3})
    assert up.bodies[0]["tools_hint"] == {"a": 1} and up.bodies[0]["seed"] == 3


async def test_text_completions_and_embeddings(fakes: Any, gateway: Any) -> None:
    chat_up = await fakes(model="gemma")
    emb_up = await fakes(model="embedder")
    g = await gateway([provider("provider-a", chat_up),
                       provider("provider-e", emb_up, model="embed-small", embeddings=True)])
    comp = await g.client.completions.create(model=MODEL, prompt="Once upon", max_tokens=5)
    assert comp.choices[0].text == chat_up.reply
    emb = await g.client.embeddings.create(model="embed-small", input=["a", "b c"])
    assert len(emb.data) == 2 and emb.usage.prompt_tokens == 3
    assert emb_up.bodies[0]["model"] == "embedder"
    # a provider that did not declare embeddings is not an embeddings target: a permanent 400
    with pytest.raises(openai.BadRequestError) as exc:
        await g.client.embeddings.create(model=MODEL, input="x")
    assert (exc.value.code, exc.value.param) == ("embeddings_not_supported", "model")
    assert chat_up.calls == 1


async def test_models_merge_nodes_and_providers_once_each(fakes: Any, gateway: Any) -> None:
    a = await fakes()
    b = await fakes()
    node = await fakes()
    directory = StaticDirectory([node_route("n1", node.base_url), node_route("n2", node.base_url, model="node-only")])
    g = await gateway([provider("provider-a", a), provider("provider-b", b, model="other")], directory=directory)
    listed = [m.id async for m in g.client.models.list()]
    assert listed == sorted({MODEL, "other", "node-only"})
    one = await g.client.models.retrieve("node-only")
    assert one.id == "node-only"
    with pytest.raises(openai.NotFoundError):
        await g.client.models.retrieve("absent")


async def test_metrics_endpoint_counts_requests(fakes: Any, gateway: Any) -> None:
    up = await fakes()
    g = await gateway([provider("provider-a", up)])
    await g.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.NotFoundError):
        await g.client.chat.completions.create(model="made-up-1", messages=[{"role": "user", "content": "x"}])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        async with s.get(g.url + "/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as resp:
            text = await resp.text()
    assert "made-up-1" not in text  # client-chosen names never become label values
    assert 'shareai_gateway_requests_total{model="unknown",route="none",status="404"} 1' in text
    assert f'shareai_gateway_requests_total{{model="{MODEL}",route="provider-a",status="200"}} 1' in text
    assert "shareai_gateway_request_duration_seconds_bucket" in text
    assert "shareai_gateway_open_circuits 0" in text


async def test_error_bodies_are_openai_shaped_with_headers(fakes: Any, gateway: Any) -> None:
    up = await fakes()
    up.fail_status = 500
    g = await gateway([provider("provider-a", up)])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        async with s.post(g.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                          json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]}) as resp:
            body = json.loads(await resp.text())
            assert resp.status == 502
            assert resp.headers["x-shareai-attempts"] == "1"
            assert resp.headers["x-shareai-route"] == "provider-a"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == "upstream_failed"
