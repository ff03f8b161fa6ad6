"""Permanent conditions are 400s a client does not retry; 503 stays for what exists but cannot
serve right now (issue 17): embeddings of a model no route embeds, pins to unknown nodes (another
org's node reads exactly like one that does not exist), a pinned provider without the model."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

from shareai.coordinator.interfaces import Principal
from tests.coordinator.gateway.helpers import MODEL, StaticDirectory, node_route, provider
from tests.coordinator.gateway.test_policies import FixedAuthenticator

MSG: list[Any] = [{"role": "user", "content": "hi"}]


async def test_embeddings_of_a_chat_only_model_are_a_permanent_400(fakes: Any, gateway: Any) -> None:
    chat_up, emb_up = await fakes(), await fakes(model="embedder")
    g = await gateway([provider("provider-a", chat_up), provider("provider-e", emb_up, model="embed-small",
                                                                 embeddings=True)])
    for _ in range(2):  # the same answer every time: nothing to retry
        with pytest.raises(openai.BadRequestError) as err:
            await g.client.embeddings.create(model=MODEL, input="x")
        assert (err.value.code, err.value.param) == ("embeddings_not_supported", "model")
    with pytest.raises(openai.NotFoundError):  # a model nothing knows stays a 404
        await g.client.embeddings.create(model="nope", input="x")
    with pytest.raises(openai.BadRequestError) as pinned:  # a pin to a provider without the model
        await g.client.embeddings.create(model="embed-small", input="x", extra_headers={
            "x-shareai-route": "provider-a"})
    assert pinned.value.code == "route_not_serving_model"
    assert (await g.client.embeddings.create(model="embed-small", input="x")).data
    assert chat_up.calls == 0 and emb_up.calls == 1
    assert [r.status for r in g.records()] == [400, 400, 404, 400, 200]


async def test_whole_floats_reach_the_upstream_as_integers(fakes: Any, gateway: Any) -> None:
    up, emb = await fakes(), await fakes(model="embedder")
    g = await gateway([provider("provider-a", up), provider("provider-e", emb, model="embed-small",
                                                            embeddings=True)])
    await g.client.chat.completions.create(model=MODEL, messages=MSG, max_tokens=4.0, seed=7.0, n=1.0,  # type: ignore[arg-type]
                                           logprobs=True, top_logprobs=2.0)  # type: ignore[arg-type]
    sent = up.bodies[-1]
    assert [(sent[k], type(sent[k])) for k in ("max_tokens", "seed", "n", "top_logprobs")] == [
        (4, int), (7, int), (1, int), (2, int)]
    await g.client.completions.create(model=MODEL, prompt="p", max_tokens=3.0, logprobs=1.0)  # type: ignore[arg-type]
    assert type(up.bodies[-1]["logprobs"]) is int and type(up.bodies[-1]["max_tokens"]) is int
    await g.client.embeddings.create(model="embed-small", input="x", dimensions=8.0)  # type: ignore[arg-type]
    assert emb.bodies[-1]["dimensions"] == 8 and type(emb.bodies[-1]["dimensions"]) is int
    with pytest.raises(openai.BadRequestError) as err:
        await g.client.chat.completions.create(model=MODEL, messages=MSG, max_tokens=4.5)  # type: ignore[arg-type]
    assert err.value.param == "max_tokens"
    assert up.calls == 2


async def test_function_messages_reach_a_provider(fakes: Any, gateway: Any) -> None:
    up = await fakes()
    g = await gateway([provider("provider-a", up)])
    messages: list[Any] = [
        {"role": "user", "content": "what is 6 x 7?"},
        {"role": "assistant", "content": None, "function_call": {"name": "mul", "arguments": "{\"a\":6,\"b\":7}"}},
        {"role": "function", "name": "mul", "content": "42"},
    ]
    out = await g.client.chat.completions.create(model=MODEL, messages=messages)
    assert out.choices[0].message.content == up.reply
    assert up.bodies[-1]["messages"] == messages


async def test_a_pin_to_an_unknown_or_foreign_node_is_one_400_and_an_offline_own_node_503(
        fakes: Any, gateway: Any) -> None:
    node_a, node_b = await fakes(name="node-a"), await fakes(name="node-b")
    directory = StaticDirectory([node_route("na", node_a.base_url, org="org-a"),
                                 node_route("nb", node_b.base_url, org="org-b")])
    directory.offline.add(("na-off", "org-a"))
    auth = FixedAuthenticator(Principal(key_id="ka", org="org-a"))
    g = await gateway([], directory=directory, authenticator=auth)
    client = openai.AsyncOpenAI(base_url=g.url + "/v1", api_key="sk-a", max_retries=0, timeout=15)
    answers: dict[str, tuple[int, Any]] = {}
    try:
        for pin in ("node:nb", "node:nope", "node:na-off", "node:na"):
            try:
                raw = await client.chat.completions.with_raw_response.create(
                    model=MODEL, messages=MSG, extra_headers={"x-shareai-route": pin})
                answers[pin] = (raw.http_response.status_code, raw.headers["x-shareai-route"])
            except openai.APIStatusError as err:
                answers[pin] = (err.status_code, err.body)
    finally:
        await client.close()
    foreign, unknown = answers["node:nb"], answers["node:nope"]
    assert foreign[0] == unknown[0] == 400
    assert {**foreign[1], "message": foreign[1]["message"].replace("nb", "X")} == {
        **unknown[1], "message": unknown[1]["message"].replace("nope", "X")}
    assert unknown[1]["code"] == "unknown_route" and unknown[1]["param"] == "x-shareai-route"
    assert answers["node:na-off"][0] == 503  # exists, cannot serve right now
    assert answers["node:na"] == (200, "node:na")
    assert node_b.calls == 0


async def test_hostile_pins_are_all_the_same_permanent_400(fakes: Any, gateway: Any) -> None:
    node_a, node_b = await fakes(name="node-a"), await fakes(name="node-b")
    directory = StaticDirectory([node_route("na", node_a.base_url, org="org-a"),
                                 node_route("nb", node_b.base_url, org="org-b")])
    g = await gateway([], directory=directory, authenticator=FixedAuthenticator(Principal(key_id="ka", org="org-a")))
    client = openai.AsyncOpenAI(base_url=g.url + "/v1", api_key="sk-a", max_retries=0, timeout=15)
    pins = ["node:", "node:nb,node:na", "node:na,node:nb", "node:NB", "node:nb,,node:nope", "node:" + "x" * 4000] * 3
    try:
        outcomes = await asyncio.gather(*(client.chat.completions.create(
            model=MODEL, messages=MSG, extra_headers={"x-shareai-route": pin}) for pin in pins),
            return_exceptions=True)
    finally:
        await client.close()
    for pin, outcome in zip(pins, outcomes, strict=True):
        assert isinstance(outcome, openai.BadRequestError), (pin[:20], outcome)
        assert outcome.code == "unknown_route"
    assert node_a.calls == node_b.calls == 0  # nothing is forwarded, not even to the own node in a list
