"""Answers name the public model the client asked for, never the upstream's name for it."""

from __future__ import annotations

from typing import Any

from tests.coordinator.gateway.helpers import MODEL, provider
from tests.coordinator.gateway.test_governance_hooks import CachingAuthenticator, RecordingGovernor

UPSTREAM = "gpt-x-2025-01"
MSG = [{"role": "user", "content": "name yourself"}]


async def test_non_streaming_answers_carry_the_public_model_name(fakes: Any, gateway: Any) -> None:
    up = await fakes(model=UPSTREAM, reply="hi there")
    g = await gateway([provider("provider-a", up, upstream=UPSTREAM, embeddings=True)])
    chat = await g.client.chat.completions.create(model=MODEL, messages=MSG)
    comp = await g.client.completions.create(model=MODEL, prompt="name yourself")
    emb = await g.client.embeddings.create(model=MODEL, input="name yourself")
    assert [b["model"] for b in up.bodies] == [UPSTREAM] * 3  # the provider was asked by its own name
    assert (chat.model, comp.model, emb.model) == (MODEL, MODEL, MODEL)
    assert chat.choices[0].message.content == "hi there"
    assert chat.usage is not None and chat.usage.completion_tokens == 2  # the rest of the body is intact


async def test_every_stream_chunk_carries_the_public_model_name(fakes: Any, gateway: Any) -> None:
    up = await fakes(model=UPSTREAM, reply="one two three")
    g = await gateway([provider("provider-a", up, upstream=UPSTREAM)])
    stream = await g.client.chat.completions.create(model=MODEL, messages=MSG, stream=True,
                                                    stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert len(chunks) >= 4 and {c.model for c in chunks} == {MODEL}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"
    comp = await g.client.completions.create(model=MODEL, prompt="x", stream=True)
    assert {c.model async for c in comp} == {MODEL}


async def test_cached_answers_replay_the_public_model_name(fakes: Any, gateway: Any) -> None:
    up = await fakes(model=UPSTREAM, reply="cached words")
    gov = RecordingGovernor()
    g = await gateway([provider("provider-a", up, upstream=UPSTREAM)], governor=gov,
                      authenticator=CachingAuthenticator())
    # A stream fills the cache (answer rebuilt from chunks), then a unary miss fills another entry.
    stream = await g.client.chat.completions.create(model=MODEL, messages=MSG, stream=True)
    assert {c.model async for c in stream} == {MODEL}
    other = [{"role": "user", "content": "another"}]
    assert (await g.client.chat.completions.create(model=MODEL, messages=other)).model == MODEL
    assert up.calls == 2
    hit = await g.client.chat.completions.with_raw_response.create(model=MODEL, messages=MSG)
    assert hit.headers["x-shareai-cache"] == "hit" and hit.parse().model == MODEL
    replay = await g.client.chat.completions.create(model=MODEL, messages=other, stream=True)
    assert {c.model async for c in replay} == {MODEL}
    assert up.calls == 2  # both served from the cache
