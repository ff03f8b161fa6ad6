"""A fake OpenAI-compatible provider: a real aiohttp server on 127.0.0.1, port 0, told how to fail.

    async with FakeProvider(model="gemma", reply="hello") as p:      # p.base_url ends in /v1
        p.fail_status = 500          # every request answers 500 (also 429, 401, 503, ...)
        p.fail_times = 2             # ... only the next 2 requests, then healthy again
        p.fail_error = {"code": "unsupported_parameter", "param": "tools"}   # ... with this error
        p.fail_headers = {"retry-after": "7"}   # ... and these headers (a 429 says retry-after 1 unless set)
        p.hang = True                # accept and never answer
        p.first_byte_delay = 1.0     # wait before the status line
        p.cut_after_chunks = 2       # streams: close the connection after 2 content chunks
        p.key_status = {"sk-bad": 401}   # per-key answers (key rotation tests)
        p.accept_keys = {"sk-good"}  # anything else is 401
        await p.kill()               # drop every open connection and stop listening (chaos)
        p.bytes_per_token = 2        # usage as a dense tokenizer counts it (see below)
        p.honour_max_tokens = True   # stop at the request's max_tokens (finish_reason "length")
        p.raw_body = b"[[[..."       # chat answers: these bytes as a 200 (a hostile upstream)
        p.answer_tools = True        # chat: call the offered tool, answer response_format with JSON
                                     # (deterministic: `shareai.testing.fake_answers`); off, `reply` always

It counts `calls` (generation requests), `probes` (`GET /models`), `disconnects` (requests of any
kind whose client closed the connection before the answer was complete: the server runs with
handler cancellation, like a real provider that stops generating), `cancelled` (the streams among
them), records the bearer key of each call in `keys_seen` and each JSON body in `bodies`.
Answers carry real usage numbers (words of the prompt and of the reply), so cost arithmetic can
be checked. With `bytes_per_token` set, prompt tokens are the UTF-8 bytes of the prompt text
divided by it, rounded up (1 is the densest any tokenizer gets; "a a a a ..." is about 2 on real
ones), and each word of the reply is one completion token, streamed one word a chunk. By default
the reply is written whole whatever `max_tokens` says (a provider that ignores it); with
`honour_max_tokens` it stops after `max_tokens` (or `max_completion_tokens`) words.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

from aiohttp import web

from shareai.testing import fake_answers

_HANG_S = 3600.0


def _words(text: str) -> int:
    return max(1, len(text.split()))


class FakeProvider:
    def __init__(self, *, model: str = "fake-model", reply: str = "Hello from the fake provider",
                 name: str = "fake", delay: float = 0.0, embedding_dim: int = 4) -> None:
        self.model = model
        self.reply = reply
        self.name = name
        self.delay = delay  # per-request service time (healthy answers)
        self.embedding_dim = embedding_dim
        self.fail_status: int | None = None
        self.fail_times: int | None = None
        self.fail_error: dict[str, Any] | None = None  # fields of the failures' `error` object
        self.fail_headers: dict[str, str] = {}  # headers of the failures' answers
        self.hang = False
        self.first_byte_delay = 0.0
        self.cut_after_chunks: int | None = None
        self.chunk_delay = 0.0
        self.bytes_per_token: float | None = None
        self.honour_max_tokens = False
        self.raw_body: bytes | None = None
        self.answer_tools = False
        self.key_status: dict[str, int] = {}
        self.accept_keys: set[str] | None = None
        self.calls = 0
        self.probes = 0
        self.keys_seen: list[str | None] = []
        self.bodies: list[dict[str, Any]] = []
        self.cancelled = 0  # streams whose client went away before the end
        self.disconnects = 0  # requests (streams or not) whose client went away before the end
        self._runner: web.AppRunner | None = None
        self._transports: set[asyncio.Transport] = set()
        self.port = 0
        self._stopped = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> FakeProvider:
        app = web.Application(middlewares=[self._track])
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        # handler_cancellation: a client that goes away cancels its handler (counted in `disconnects`).
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5,
                                     handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        self._stopped.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            for t in list(self._transports):
                t.abort()
            await runner.cleanup()

    async def kill(self) -> None:
        """Crash: stop listening and abort every open connection, mid-request or not."""
        await self.stop()

    async def __aenter__(self) -> FakeProvider:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- behaviour ------------------------------------------------------------------------------

    @web.middleware
    async def _track(self, request: web.Request, handler: Any) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            self._transports.add(transport)
        self._refuse_if_killed(transport)
        try:
            response: web.StreamResponse = await handler(request)
        except (asyncio.CancelledError, ConnectionError):
            if not self._stopped.is_set():  # our own kill() is no client disconnect
                self.disconnects += 1
            raise
        # A request that was waiting (`hang`, `first_byte_delay`) when kill() woke it, or one accepted
        # while the listener was still closing, must not be answered: a crashed server says nothing.
        self._refuse_if_killed(transport)
        return response

    def _refuse_if_killed(self, transport: asyncio.Transport | None) -> None:
        if self._stopped.is_set():
            if transport is not None:
                transport.abort()
            raise ConnectionResetError("the fake provider was killed")

    async def _gate(self, request: web.Request) -> tuple[dict[str, Any] | None, web.Response | None]:
        """Count the call and decide: (body, None) to answer, (None, response) to fail."""
        self.calls += 1
        auth = request.headers.get("Authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else None
        self.keys_seen.append(key)
        body = await request.json()
        self.bodies.append(body)
        if self.hang:
            await self._sleep(_HANG_S)
        if self.first_byte_delay:
            await self._sleep(self.first_byte_delay)
        if key is not None and key in self.key_status:
            return None, self._error(self.key_status[key])
        if self.accept_keys is not None and key not in self.accept_keys:
            return None, self._error(401)
        if self.fail_status is not None and (self.fail_times is None or self.fail_times > 0):
            if self.fail_times is not None:
                self.fail_times -= 1
            return None, self._error(self.fail_status, self.fail_error, self.fail_headers)
        if self.delay:
            await self._sleep(self.delay)
        return body, None

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopped.wait(), timeout=seconds)
        except TimeoutError:
            pass

    @staticmethod
    def _error(status: int, fields: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None) -> web.Response:
        kinds = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error"}
        body = {"error": {"message": f"fake failure {status}", "type": kinds.get(status, "server_error"),
                          "param": None, "code": None, **(fields or {})}}
        merged = {"retry-after": "1"} if status == 429 else {}
        merged.update(headers or {})
        return web.json_response(body, status=status, headers=merged)

    def _usage(self, prompt: str, reply: str | None = None) -> dict[str, int]:
        text = self.reply if reply is None else reply
        if self.bytes_per_token is None:
            p, c = _words(prompt), _words(text)
        else:
            p = math.ceil(len(prompt.encode("utf-8", "surrogatepass")) / self.bytes_per_token)
            c = len(text.split(" ")) if text else 0
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    def _reply(self, body: dict[str, Any]) -> tuple[str, str]:
        """The reply text for this request and its finish reason (`length` when cut at max_tokens)."""
        cap = body.get("max_completion_tokens") or body.get("max_tokens")
        text = self.reply
        if self.answer_tools:
            text = fake_answers.tool_result_reply(body) or fake_answers.structured(body) or text
        words = text.split(" ")
        if self.honour_max_tokens and isinstance(cap, int) and 0 < cap < len(words):
            return " ".join(words[:cap]), "length"
        return text, "stop"

    def _tool_call(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The tool call this chat request gets (`answer_tools`), with its id; None for text."""
        call = fake_answers.tool_call(body) if self.answer_tools else None
        return None if call is None else {"id": f"call_{self.name}_{self.calls}", "type": "function",
                                          "function": call}

    @staticmethod
    def _chat_prompt(body: dict[str, Any]) -> str:
        parts: list[str] = []
        for m in body.get("messages", []):
            content = m.get("content", "") if isinstance(m, dict) else ""
            if isinstance(content, list):
                # Only string texts: a part may carry anything a client sent (`"text": {}`).
                content = "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
            parts.append(str(content))
        return " ".join(parts)

    # -- endpoints ------------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        self.probes += 1
        if self.fail_status is not None and self.fail_times is None:
            return self._error(self.fail_status)
        return web.json_response({"object": "list", "data": [
            {"id": self.model, "object": "model", "created": 0, "owned_by": self.name}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body, failure = await self._gate(request)
        if failure is not None or body is None:
            return failure or self._error(500)
        if self.raw_body is not None:
            return web.Response(body=self.raw_body, content_type="application/json")
        prompt = self._chat_prompt(body)
        if body.get("stream"):
            return await self._stream(request, body, prompt, chat=True)
        reply, finish = self._reply(body)
        message: dict[str, Any] = {"role": "assistant", "content": reply, "refusal": None}
        call = self._tool_call(body)
        if call is not None:
            message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}
            finish = "tool_calls"
            reply = call["function"]["arguments"]
        return web.json_response({
            "id": f"chatcmpl-{self.name}-{self.calls}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model"), "system_fingerprint": self.name,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": self._usage(prompt, reply),
        })

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body, failure = await self._gate(request)
        if failure is not None or body is None:
            return failure or self._error(500)
        prompt = str(body.get("prompt", ""))
        if body.get("stream"):
            return await self._stream(request, body, prompt, chat=False)
        reply, finish = self._reply(body)
        return web.json_response({
            "id": f"cmpl-{self.name}-{self.calls}", "object": "text_completion", "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "text": reply, "finish_reason": finish, "logprobs": None}],
            "usage": self._usage(prompt, reply),
        })

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body, failure = await self._gate(request)
        if failure is not None or body is None:
            return failure or self._error(500)
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) else [inputs]
        tokens = sum(_words(str(i)) for i in items)
        return web.json_response({
            "object": "list", "model": body.get("model"),
            "data": [{"object": "embedding", "index": i, "embedding": [0.1 * (i + 1)] * self.embedding_dim}
                     for i in range(len(items))],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        })

    async def _stream(self, request: web.Request, body: dict[str, Any], prompt: str, *,
                      chat: bool) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        base = {"id": f"chatcmpl-{self.name}-{self.calls}",
                "object": "chat.completion.chunk" if chat else "text_completion",
                "created": int(time.time()), "model": body.get("model"),
                **({"system_fingerprint": self.name} if chat else {})}
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        extra = {"usage": None} if include_usage else {}

        def choice(text: str | None, finish: str | None, first: bool = False) -> dict[str, Any]:
            if chat:
                delta: dict[str, Any] = {"role": "assistant", "content": ""} if first else {}
                if text is not None:
                    delta["content"] = text
                return {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}

        def event(obj: dict[str, Any]) -> bytes:
            return f"data: {json.dumps(obj)}\n\n".encode()

        call = self._tool_call(body) if chat else None
        try:
            if call is not None:
                return await self._stream_call(resp, base, extra, call, prompt, include_usage)
            if chat:
                await resp.write(event({**base, "choices": [choice(None, None, first=True)], **extra}))
            reply, finish = self._reply(body)
            words = reply.split(" ")
            for i, word in enumerate(words):
                if self.cut_after_chunks is not None and i >= self.cut_after_chunks:
                    assert request.transport is not None
                    request.transport.abort()  # the provider dies mid-stream
                    return resp
                text = word if i == 0 else " " + word
                await resp.write(event({**base, "choices": [choice(text, None)], **extra}))
                if self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
            await resp.write(event({**base, "choices": [choice(None, finish)], **extra}))
            if include_usage:
                await resp.write(event({**base, "choices": [], "usage": self._usage(prompt, reply)}))
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError):
            self.cancelled += 1
            raise
        except asyncio.CancelledError:
            if not self._stopped.is_set():
                self.cancelled += 1
            raise
        return resp


    async def _stream_call(self, resp: web.StreamResponse, base: dict[str, Any], extra: dict[str, Any],
                           call: dict[str, Any], prompt: str, include_usage: bool) -> web.StreamResponse:
        """A streamed tool call in OpenAI's shape: id and name first, then the arguments."""
        args = call["function"]["arguments"]
        deltas = [
            {"role": "assistant", "content": None, "tool_calls": [
                {"index": 0, "id": call["id"], "type": "function",
                 "function": {"name": call["function"]["name"], "arguments": ""}}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": args[:len(args) // 2]}}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": args[len(args) // 2:]}}]},
        ]
        for delta in deltas:
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}]}
            await resp.write(f"data: {json.dumps({**chunk, **extra})}\n\n".encode())
        last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls", "logprobs": None}]}
        await resp.write(f"data: {json.dumps({**last, **extra})}\n\n".encode())
        if include_usage:
            usage = {**base, "choices": [], "usage": self._usage(prompt, args)}
            await resp.write(f"data: {json.dumps(usage)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def main(argv: list[str] | None = None) -> None:
    """`python -m shareai.testing.fake_provider --port 9001 --model gemma-3-270m --name provider-a`:
    a stand-in third-party provider for local demos (`make smoke`); Ctrl-C / SIGTERM stops it."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--name", default="fake")
    parser.add_argument("--reply", default="Hello from the fake provider")
    args = parser.parse_args(argv)

    async def run() -> None:
        provider = FakeProvider(model=args.model, reply=args.reply, name=args.name)
        provider.port = args.port
        await provider.start()
        print(f"{args.name}: {provider.base_url} serving {args.model}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await provider.stop()

    asyncio.run(run())


if __name__ == "__main__":
    main()
