"""The agent's OpenAI surface over the fake backend, through the official SDK and raw HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import openai
import pytest

from shareai.agent.backends.fake import FakeBackend
from shareai.agent.server import AgentServer
from shareai.agent.slots import ModelPool
from tests.agent.helpers import client, pool_of, running

REPLY = "alpha beta gamma delta epsilon"
TIMEOUT = aiohttp.ClientTimeout(total=30)


@pytest.fixture
async def served() -> AsyncIterator[tuple[AgentServer, str]]:
    pools = [pool_of("fake-a", lambda: FakeBackend(reply=REPLY, n_ctx=64)),
             pool_of("fake-b", lambda: FakeBackend(supports_logprobs=False))]
    async with running(pools) as s:
        yield s


async def raw_events(url: str, body: dict[str, object]) -> list[str]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.post(url, json=body) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        text = await resp.text()
    return [line[len("data: "):] for line in text.split("\n\n") if line.startswith("data: ")]


async def test_chat_non_streaming(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        r = await c.chat.completions.create(model="fake-a", messages=[{"role": "user", "content": "hi"}])
    assert r.id.startswith("chatcmpl-")
    assert r.model == "fake-a"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == REPLY
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and r.usage.completion_tokens == 5
    assert r.usage.total_tokens == r.usage.prompt_tokens + 5


async def test_chat_text_content_parts_and_max_tokens(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        r = await c.chat.completions.create(
            model="fake-a", max_completion_tokens=2,
            messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        )
    assert r.choices[0].message.content == "alpha beta"
    assert r.choices[0].finish_reason == "length"


async def test_stream_invariants(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        stream = await c.chat.completions.create(
            model="fake-a", messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [ch async for ch in stream]
    assert len({ch.id for ch in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [ch for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert len(finishes) == 1 and finishes[0].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 5
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == REPLY


async def test_stream_ends_with_done_and_usage_only_when_asked(served: tuple[AgentServer, str]) -> None:
    _, url = served
    events = await raw_events(f"{url}/chat/completions", {
        "model": "fake-a", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    assert events[-1] == "[DONE]"
    assert all("usage" not in json.loads(e) for e in events[:-1])


async def test_stop_sequence(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        r = await c.chat.completions.create(
            model="fake-a", messages=[{"role": "user", "content": "hi"}], stop=[" gam", "zzz"])
    assert r.choices[0].message.content == "alpha beta"
    assert r.choices[0].finish_reason == "stop"


async def test_completions_plain_stream_and_echo(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        r = await c.completions.create(model="fake-a", prompt="Once upon", max_tokens=3, echo=True)
        assert r.object == "text_completion"
        assert r.choices[0].text == "Once uponalpha beta gamma"
        assert r.choices[0].finish_reason == "length"
        stream = await c.completions.create(
            model="fake-a", prompt="x", stream=True, stream_options={"include_usage": True})
        chunks = [ch async for ch in stream]
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == REPLY
    assert sum(1 for ch in chunks if ch.choices and ch.choices[0].finish_reason) == 1
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


async def test_models_list_ids_are_names(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        models = await c.models.list()
        assert sorted(m.id for m in models.data) == ["fake-a", "fake-b"]
        assert (await c.models.retrieve("fake-b")).id == "fake-b"
        with pytest.raises(openai.NotFoundError):
            await c.models.retrieve("nope")


async def test_json_response_format_is_accepted(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        r = await c.chat.completions.create(
            model="fake-a", messages=[{"role": "user", "content": "hi"}], response_format={"type": "json_object"})
    assert json.loads(r.choices[0].message.content or "") == {"reply": REPLY}


async def test_unknown_model_is_404_never_a_fallback(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        with pytest.raises(openai.NotFoundError) as exc:
            await c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert exc.value.code == "model_not_found"
    assert exc.value.param == "model"


@pytest.mark.parametrize(("extra", "param"), [
    ({"temperature": "hot"}, "temperature"),
    ({"max_tokens": -1}, "max_tokens"),
    ({"n": 2}, "n"),
    ({"top_logprobs": 2}, "top_logprobs"),
    ({"tools": [{"type": "function", "function": {"name": "f g"}}]}, "tools[0].function.name"),
    ({"functions": [{"name": "f"}]}, "functions"),
    ({"messages": "hi"}, "messages"),
    ({"stop": 3}, "stop"),
])
async def test_bad_params_are_400_naming_the_param(
    served: tuple[AgentServer, str], extra: dict[str, object], param: str
) -> None:
    _, url = served
    body: dict[str, object] = {"model": "fake-a", "messages": [{"role": "user", "content": "hi"}], **extra}
    async with client(url) as c:
        with pytest.raises(openai.BadRequestError) as exc:
            await c.chat.completions.create(**body)
    assert exc.value.status_code == 400
    assert exc.value.param == param


async def test_logprobs_declined_where_the_backend_cannot(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        with pytest.raises(openai.BadRequestError) as exc:
            await c.completions.create(model="fake-b", prompt="x", logprobs=2)
        assert exc.value.param == "logprobs"
        with pytest.raises(openai.BadRequestError) as exc:
            await c.chat.completions.create(model="fake-b", messages=[{"role": "user", "content": "hi"}],
                                            logprobs=True)
        assert exc.value.param == "logprobs"


async def test_logprobs_shapes(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        r = await c.chat.completions.create(
            model="fake-a", messages=[{"role": "user", "content": "hi"}], logprobs=True, top_logprobs=1,
            max_tokens=2)
        assert r.choices[0].logprobs is not None and r.choices[0].logprobs.content is not None
        entries = r.choices[0].logprobs.content
        assert [e.token for e in entries] == ["alpha", " beta"]
        assert entries[1].bytes == list(b" beta") and entries[1].top_logprobs[0].token == " beta"
        stream = await c.chat.completions.create(
            model="fake-a", messages=[{"role": "user", "content": "hi"}], logprobs=True, max_tokens=2,
            stream=True)
        tokens = [e.token async for ch in stream if ch.choices and ch.choices[0].logprobs
                  for e in ch.choices[0].logprobs.content or []]
        assert tokens == ["alpha", " beta"]
        t = await c.completions.create(model="fake-a", prompt="Go", logprobs=0, max_tokens=3, echo=True)
        lp = t.choices[0].logprobs
        assert lp is not None
        assert lp.tokens == ["alpha", " beta", " gamma"]
        assert lp.token_logprobs == [0.0, 0.0, 0.0]
        assert lp.text_offset == [2, 7, 12]  # offsets count the echoed prompt


@pytest.mark.parametrize("stream", [False, True])
async def test_prompt_over_the_window_is_400_naming_its_param(served: tuple[AgentServer, str], stream: bool) -> None:
    _, url = served
    async with client(url) as c:
        with pytest.raises(openai.BadRequestError) as exc:
            await c.chat.completions.create(
                model="fake-a", messages=[{"role": "user", "content": "w " * 100}], stream=stream)
        assert (exc.value.code, exc.value.param) == ("context_length_exceeded", "messages")
        with pytest.raises(openai.BadRequestError) as exc:
            await c.completions.create(model="fake-a", prompt="w " * 100, stream=stream)
        assert (exc.value.code, exc.value.param) == ("context_length_exceeded", "prompt")


async def test_max_tokens_past_the_window_stops_at_it() -> None:
    pools = [pool_of("m", lambda: FakeBackend(repeat=True, n_ctx=16))]  # a reply that would run on
    async with running(pools) as (_, url), client(url) as c:
        r = await c.completions.create(model="m", prompt="one two three", max_tokens=1000)
        assert r.choices[0].finish_reason == "length"
        assert r.usage is not None and (r.usage.prompt_tokens, r.usage.completion_tokens) == (3, 13)
        stream = await c.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=1000, stream=True)
        reasons = [ch.choices[0].finish_reason async for ch in stream if ch.choices[0].finish_reason]
        assert reasons == ["length"]


async def test_api_key_required_when_configured() -> None:
    async with running([pool_of("m", FakeBackend)], api_key="sk-local") as (_server, url):
        async with client(url, api_key="wrong") as c:
            with pytest.raises(openai.AuthenticationError):
                await c.models.list()
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            async with http.get(f"{url}/models") as resp:
                assert resp.status == 401
                assert (await resp.json())["error"]["code"] == "missing_api_key"
            async with http.get(f"{url[:-3]}/health") as resp:
                assert resp.status == 200  # health stays open for probes
        async with client(url, api_key="sk-local") as c:
            assert [m.id for m in (await c.models.list()).data] == ["m"]


async def test_data_plane_secret() -> None:
    async with running([pool_of("m", FakeBackend)]) as (server, url):
        async with client(url, api_key="anything") as c:
            await c.models.list()  # nothing configured: open
        server.set_data_plane_secret("ns_coordinator")
        async with client(url, api_key="anything") as c:
            with pytest.raises(openai.AuthenticationError):
                await c.models.list()
        async with client(url, api_key="ns_coordinator") as c:
            await c.models.list()
    async with running([pool_of("m", FakeBackend)], api_key="sk-local") as (server, url):
        server.set_data_plane_secret("ns_coordinator")
        for key in ("sk-local", "ns_coordinator"):
            async with client(url, api_key=key) as c:
                await c.models.list()


async def test_health_is_503_until_models_are_set() -> None:
    server = AgentServer([])
    port = await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            async with http.get(f"http://127.0.0.1:{port}/health") as resp:
                assert resp.status == 503
            async with http.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                                 json={"model": "m", "messages": [{"role": "user", "content": "x"}]}) as resp:
                assert resp.status == 503
            assert not server.ready
            server.set_models([ModelPool("m", [FakeBackend()])])
            assert server.ready
            async with http.get(f"http://127.0.0.1:{port}/health") as resp:
                assert resp.status == 200
                assert (await resp.json())["models"] == ["m"]
    finally:
        await server.stop()


async def test_metrics_exposition(served: tuple[AgentServer, str]) -> None:
    _, url = served
    async with client(url) as c:
        await c.chat.completions.create(model="fake-a", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.BadRequestError):
            await c.chat.completions.create(model="fake-a", messages=[{"role": "user", "content": "w " * 100}])
        with pytest.raises(openai.NotFoundError):
            await c.completions.create(model="no-such-model", prompt="x")
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.get(f"{url[:-3]}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    assert 'shareai_agent_requests_total{model="fake-a",endpoint="chat.completions",status="200"} 1' in text
    assert 'shareai_agent_requests_total{model="fake-a",endpoint="chat.completions",status="400"} 1' in text
    assert 'shareai_agent_requests_total{model="unknown",endpoint="completions",status="404"} 1' in text
    assert 'shareai_agent_completion_tokens_total{model="fake-a"} 5' in text
    assert 'shareai_agent_slots_busy{model="fake-a"} 0' in text
    assert 'shareai_agent_queue_depth{model="fake-b"} 0' in text
    assert 'shareai_agent_time_to_first_token_seconds_count{model="fake-a"} 1' in text
    assert 'shareai_agent_tokens_per_second_count{model="fake-a"} 1' in text


def openai_shaped(body: dict[str, object], type_: str) -> dict[str, object]:
    err = body["error"]
    assert isinstance(err, dict) and set(err) == {"message", "type", "param", "code"}
    assert err["type"] == type_ and err["message"]
    return err


@pytest.mark.parametrize("path", ["/chat/completions", "/completions"])
@pytest.mark.parametrize("chunked", [False, True])
async def test_body_over_the_limit_is_413(served: tuple[AgentServer, str], path: str, chunked: bool) -> None:
    _, url = served  # the helper's limit: 64 KiB
    raw = json.dumps({"model": "fake-a", "prompt": "x" * 100_000,
                      "messages": [{"role": "user", "content": "x"}]}).encode()

    async def pieces() -> AsyncIterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        for i in range(0, len(raw), 8192):
            yield raw[i:i + 8192]

    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        async with http.post(f"{url}{path}", data=pieces() if chunked else raw,
                             headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 413
            assert openai_shaped(await resp.json(), "invalid_request_error")["code"] == "request_too_large"


@pytest.mark.parametrize("path", ["/chat/completions", "/completions"])
async def test_malformed_json_is_400_on_both_endpoints(served: tuple[AgentServer, str], path: str) -> None:
    _, url = served
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        for data, code in ((b"{not json", "invalid_json"), (b"", "invalid_json"), (b"\xff\xfe", "invalid_json"),
                           (b"[1, 2]", "invalid_type")):
            async with http.post(f"{url}{path}", data=data, headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 400
                assert openai_shaped(await resp.json(), "invalid_request_error")["code"] == code


@pytest.mark.parametrize(("body", "param"), [
    ({"prompt": 3}, "prompt"),
    ({"prompt": "x", "max_tokens": "8"}, "max_tokens"),
    ({"prompt": "x", "stream": "yes"}, "stream"),
    ({"prompt": "x", "logprobs": 9}, "logprobs"),
    ({"prompt": "x", "echo": 1}, "echo"),
    ({"prompt": "x", "seed": 1.5}, "seed"),
    ({"prompt": "x", "suffix": "y"}, "suffix"),
    ({"prompt": ["a", "b"]}, "prompt"),
])
async def test_completions_bad_params_are_400_naming_the_param(
    served: tuple[AgentServer, str], body: dict[str, object], param: str
) -> None:
    _, url = served
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        async with http.post(f"{url}/completions", json={"model": "fake-a", **body}) as resp:
            assert resp.status == 400
            assert openai_shaped(await resp.json(), "invalid_request_error")["param"] == param


@pytest.mark.parametrize(("extra", "param"), [
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
     "messages[0].content[0].type"),
    ({"stream": True, "stream_options": {"include_usage": "yes"}}, "stream_options.include_usage"),
    ({"response_format": {"type": "xml"}}, "response_format.type"),
    ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    ({"model": 7}, "model"),
])
async def test_chat_wrong_types_name_the_param(
    served: tuple[AgentServer, str], extra: dict[str, object], param: str
) -> None:
    _, url = served
    body = {"model": "fake-a", "messages": [{"role": "user", "content": "hi"}], **extra}
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.post(f"{url}/chat/completions", json=body) as resp:
        assert resp.status == 400
        assert openai_shaped(await resp.json(), "invalid_request_error")["param"] == param


async def test_generation_endpoints_need_the_key() -> None:
    async with running([pool_of("m", FakeBackend)], api_key="sk-local") as (_server, url):
        async with client(url, api_key="sk-wrong") as c:
            with pytest.raises(openai.AuthenticationError) as exc:
                await c.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            assert exc.value.code == "invalid_api_key"
            with pytest.raises(openai.AuthenticationError):
                await c.completions.create(model="m", prompt="x", stream=True)
            with pytest.raises(openai.AuthenticationError):
                await c.models.retrieve("m")
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            for path, body in (("/chat/completions", {"model": "m", "messages": []}), ("/completions", {})):
                async with http.post(f"{url}{path}", json=body) as resp:  # auth comes before validation
                    assert resp.status == 401
                    assert openai_shaped(await resp.json(), "authentication_error")["code"] == "missing_api_key"
            async with http.post(f"{url}/completions", json={}, headers={"Authorization": "Basic sk-local"}) as resp:
                assert resp.status == 401


async def test_unknown_model_is_404_everywhere_never_a_fallback() -> None:
    backend = FakeBackend()
    async with running([ModelPool("fake-a", [backend])]) as (_server, url), client(url) as c:
        with pytest.raises(openai.NotFoundError) as exc:
            await c.completions.create(model="fake-a-v2", prompt="x", stream=True)
        assert (exc.value.code, exc.value.param) == ("model_not_found", "model")
        with pytest.raises(openai.NotFoundError):
            await c.chat.completions.create(model="FAKE-A", messages=[{"role": "user", "content": "hi"}], stream=True)
        with pytest.raises(openai.NotFoundError) as exc:
            await c.models.retrieve("fake-a/../fake-a")
        assert exc.value.code == "model_not_found"
    assert backend.generations == 0
