"""The node's OpenAI-compatible HTTP endpoint (aiohttp) over its model pools.

    POST /v1/chat/completions   POST /v1/completions   (JSON, or SSE with "stream": true)
    POST /v1/embeddings         (embedding models: `--embeddings`; float or base64 vectors)
    GET  /v1/models             GET  /v1/models/{id}
    GET  /health                (open; 503 while models load, 200 when ready)
    GET  /metrics               (Prometheus text)

Everything but `/health` needs a bearer token when one is configured: the local `api_key`, or the
coordinator's data-plane secret once `set_data_plane_secret()` was called (with neither, the
endpoint is open). Request bodies are validated strictly before any work: what this node cannot
honour is a 400 naming the param, never a silent drop.

A generation waits for its first event before answering, so prompt errors (context window, bad
schema) and a full queue still get a proper 4xx status even on streams. A stream then keeps the
invariants clients rely on: one `id`, the role in the first delta, exactly one chunk with
`finish_reason`, the `usage` chunk (`choices: []`) last when asked for, and `data: [DONE]`.
A client that goes away cancels its generation (the handler is cancelled, or its next write fails),
which frees the slot within a token.

Lifecycle for the control plane: `set_accepting(False)` turns new generations away with 503
`node_unavailable` while in-flight ones finish; `wait_idle()` waits for them; `cancel_all()` cuts
them short; `stop()` does both and closes the models.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from shareai import __version__
from shareai.agent.backends.base import FINISH_CANCELLED, Delta, Event, Finish, GenParams, TokenLogprob
from shareai.agent.metrics import CONTENT_TYPE, AgentMetrics
from shareai.agent.responses import Reply, embeddings_body, finish_reason
from shareai.agent.slots import ModelLoad, ModelPool, Work, load_pools
from shareai.agent.toolcalls import ParsedPiece, TextPiece, ToolCallParser
from shareai.wire.embedding_request import parse_embedding_request
from shareai.wire.errors import (
    AuthenticationError,
    InvalidRequest,
    ModelNotFound,
    NoTargetAvailable,
    OpenAIError,
    ServerError,
)
from shareai.wire.http import DEFAULT_MAX_BODY_BYTES, Handler, bearer_token, error_middleware, read_json
from shareai.wire.sse import DONE, SSE_HEADERS, error_frame, frame
from shareai.wire.tokens import hash_secret, verify_secret
from shareai.wire.validation import (
    ChatRequest,
    CompletionRequest,
    parse_chat_request,
    parse_completion_request,
)

__all__ = ["AgentServer", "ModelLoad", "ModelPool", "load_pools"]

log = logging.getLogger(__name__)

CLIENT_CLOSED = 499  # status recorded in metrics for a client that left mid-request (nginx's convention)
OPEN_PATHS = frozenset({"/health"})


def _unavailable(message: str) -> NoTargetAvailable:
    return NoTargetAvailable(message, code="node_unavailable")


def _cancelled() -> NoTargetAvailable:
    return _unavailable("The generation was cancelled: this node stopped serving.")


def _params(req: ChatRequest | CompletionRequest) -> GenParams:
    s = req.sampling
    if isinstance(req, ChatRequest):
        logprobs = (req.top_logprobs or 0) if req.logprobs else None
    else:
        logprobs = req.logprobs
    return GenParams(
        max_tokens=s.max_tokens, temperature=s.temperature, top_p=s.top_p, stop=list(s.stop), seed=s.seed,
        presence_penalty=s.presence_penalty, frequency_penalty=s.frequency_penalty,
        response_format=req.response_format if isinstance(req, ChatRequest) else None, logprobs=logprobs,
        tools=req.tools if isinstance(req, ChatRequest) else None,
    )


def _refuse_tools(req: ChatRequest) -> None:
    """A model without tool support: tools, and conversations carrying tool calls, are a 400 (the
    node does not advertise them for it, so the gateway routes such requests elsewhere)."""
    if req.tools is not None:
        raise InvalidRequest(f"Tool calling is not available for model '{req.model}' on this node.",
                             param="tools", code="unsupported_parameter")
    for i, m in enumerate(req.messages):
        if m.role in ("tool", "function") or m.tool_calls:
            raise InvalidRequest(f"Tool messages are not supported for model '{req.model}' on this node.",
                                 param=f"messages[{i}]", code="unsupported_value")


def _work(req: ChatRequest | CompletionRequest) -> Work:
    """What the slot thread runs for `req`."""
    params = _params(req)
    if isinstance(req, ChatRequest):
        messages = req.messages
        return lambda backend, cancel: backend.chat(messages, params, cancel)
    prompt = req.prompt
    return lambda backend, cancel: backend.complete(prompt, params, cancel)


class AgentServer:
    def __init__(
        self,
        models: Sequence[ModelPool],
        *,
        api_key: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._pools: dict[str, ModelPool] = {}
        self._ready = False
        self._key_hash = hash_secret(api_key) if api_key else None
        self._secret_hash: str | None = None
        self._max_body = max_body_bytes
        self._clock = clock
        self._wall = wall_clock
        self._accepting = True
        self._active: set[threading.Event] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._runner: web.AppRunner | None = None
        self._started = int(wall_clock())
        self.metrics = AgentMetrics()
        self.app = self._build_app()
        if models:
            self.set_models(models)

    # ---- lifecycle and control-plane hooks -------------------------------------------------------

    def set_models(self, models: Sequence[ModelPool]) -> None:
        """Serve these pools (replacing any); the server becomes ready. For start-up: listen first,
        answer /health with 503 while `load_pools` runs, then call this."""
        names = [p.name for p in models]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate model names: {names}")
        self._pools = {p.name: p for p in models}
        self._ready = bool(models)

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def models(self) -> list[ModelPool]:
        return list(self._pools.values())

    @property
    def inflight(self) -> int:
        """Generation requests admitted and not finished (queued ones included)."""
        return len(self._active)

    def set_data_plane_secret(self, secret: str | None) -> None:
        self._secret_hash = hash_secret(secret) if secret else None

    def set_accepting(self, accepting: bool) -> None:
        self._accepting = accepting

    @property
    def accepting(self) -> bool:
        return self._accepting

    async def wait_idle(self, timeout_s: float) -> bool:
        """True once no generation is in flight; False if some still are after `timeout_s`."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def cancel_all(self) -> None:
        """Cut every in-flight generation short (each stops within a token); queued ones give up."""
        for cancel in list(self._active):
            cancel.set()

    def load(self) -> list[ModelLoad]:
        return [p.load() for p in self._pools.values()]

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        # handler_cancellation: a client that disconnects cancels its handler even while it waits in
        # the queue or for its first token, not only at the next write.
        self._runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = int(self._runner.addresses[0][1])
        log.info("agent endpoint listening on http://%s:%d", host, bound)
        return bound

    async def stop(self, *, close_models: bool = True) -> None:
        """Stop listening, cancel what still runs, wait for the slots, stop their threads and close the
        models (`close_models=False` keeps the backends usable, for tests sharing loaded models)."""
        self._accepting = False
        self.cancel_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.wait_idle(10.0)
        for pool in self._pools.values():
            await pool.aclose(close_backends=close_models)
        self._pools = {}
        self._ready = False

    # ---- HTTP ------------------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[error_middleware, self._auth_middleware])
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model:.+}", self._get_model)
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        return app

    @web.middleware
    async def _auth_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in OPEN_PATHS:
            self._authenticate(request)
        return await handler(request)

    def _authenticate(self, request: web.Request) -> None:
        hashes = [h for h in (self._key_hash, self._secret_hash) if h]
        if not hashes:
            return
        token = bearer_token(request)
        if token is None:
            raise AuthenticationError(
                "Missing API key: send it as 'Authorization: Bearer <key>'.", code="missing_api_key"
            )
        ok = False
        for h in hashes:  # check every one: the time taken does not say which key matched
            ok |= verify_secret(token, h)
        if not ok:
            raise AuthenticationError("Incorrect API key provided.")

    async def _health(self, request: web.Request) -> web.Response:
        if not self._ready:
            return web.json_response({"status": "loading"}, status=503)
        return web.json_response({"status": "ok", "accepting": self._accepting, "models": list(self._pools)})

    async def _metrics(self, request: web.Request) -> web.Response:
        body = self.metrics.render(self.load())
        return web.Response(body=body.encode(), headers={"Content-Type": CONTENT_TYPE})

    def _fingerprint(self, pool: ModelPool) -> str:
        return f"shareai-{__version__}-{pool.fingerprint}"

    def _model_card(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": self._started, "owned_by": "shareai-agent"}

    async def _list_models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [self._model_card(n) for n in self._pools]})

    async def _get_model(self, request: web.Request) -> web.Response:
        name = request.match_info["model"]
        if name not in self._pools:
            raise ModelNotFound(name)
        return web.json_response(self._model_card(name))

    def _admit(self, model: str) -> ModelPool:
        if not self._accepting:
            raise _unavailable("This node is not accepting new requests right now.")
        if not self._ready:
            raise _unavailable("This node is still loading its models.")
        pool = self._pools.get(model)
        if pool is None:
            raise ModelNotFound(model)  # never a fallback to another model
        return pool

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, chat=True)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, chat=False)

    async def _handle(self, request: web.Request, *, chat: bool) -> web.StreamResponse:
        """Validate, admit, generate; every outcome is counted in `requests_total` (the model label
        is `unknown` for names this node does not serve, so clients cannot grow the label set)."""
        endpoint = "chat.completions" if chat else "completions"
        model, status = "unknown", CLIENT_CLOSED
        try:
            body = await read_json(request, self._max_body)
            req: ChatRequest | CompletionRequest
            req = parse_chat_request(body, strict=True) if chat else parse_completion_request(body, strict=True)
            pool = self._admit(req.model)
            model = req.model
            if pool.embeddings:
                raise InvalidRequest(f"Model '{req.model}' is an embedding model: it serves /v1/embeddings only.",
                                     param="model", code="model_not_supported")
            wants_logprobs = req.logprobs if isinstance(req, ChatRequest) else req.logprobs is not None
            if wants_logprobs and not pool.supports_logprobs:
                raise InvalidRequest(
                    f"logprobs are not available for model '{req.model}' on this node.", param="logprobs",
                    code="unsupported_parameter",
                )
            if isinstance(req, ChatRequest) and not pool.supports_tools:
                _refuse_tools(req)
            tools = isinstance(req, ChatRequest) and req.tools is not None and req.tools.active
            run = Reply(chat=chat, model=req.model, created=int(self._wall()), stream=req.stream,
                        include_usage=req.include_usage, logprobs=wants_logprobs,
                        echo=req.prompt if isinstance(req, CompletionRequest) and req.echo else "",
                        fingerprint=self._fingerprint(pool), tools=tools)
            response = await self._generate(request, pool, run, _work(req))
            status = CLIENT_CLOSED if run.client_gone else response.status
            return response
        except OpenAIError as err:
            status = err.status
            raise
        except (ConnectionResetError, asyncio.CancelledError):
            status = CLIENT_CLOSED
            raise
        except Exception:
            status = 500
            raise
        finally:
            self.metrics.request(model, endpoint, status)

    async def _embeddings(self, request: web.Request) -> web.Response:
        model, status = "unknown", CLIENT_CLOSED
        try:
            req = parse_embedding_request(await read_json(request, self._max_body), strict=True)
            pool = self._admit(req.model)
            model = req.model
            if not pool.embeddings:
                raise InvalidRequest(f"Model '{req.model}' is not an embedding model on this node (serve one with "
                                     "--embeddings).", param="model", code="model_not_supported")
            if req.dimensions is not None and req.dimensions != pool.n_embd and not pool.supports_dimensions:
                raise InvalidRequest(
                    f"Model '{req.model}' produces {pool.n_embd}-dimensional embeddings and cannot shorten them: "
                    f"leave out 'dimensions' (or pass {pool.n_embd}).", param="dimensions", code="unsupported_value")
            inputs = req.inputs
            cancel = threading.Event()  # counted in flight, so draining waits for it too
            self._active.add(cancel)
            self._idle.clear()
            try:
                result = await pool.call(lambda backend: backend.embed(inputs))
            finally:
                self._active.discard(cancel)
                if not self._active:
                    self._idle.set()
            self.metrics.tokens(model, result.prompt_tokens, 0)
            body = embeddings_body(req.model, result, req.encoding_format, req.dimensions)
            status = 200
            return web.json_response(body)
        except OpenAIError as err:
            status = err.status
            raise
        except (ConnectionResetError, asyncio.CancelledError):
            status = CLIENT_CLOSED
            raise
        except Exception:
            status = 500
            raise
        finally:
            self.metrics.request(model, "embeddings", status)

    async def _generate(self, request: web.Request, pool: ModelPool, run: Reply, work: Work) -> web.StreamResponse:
        cancel = threading.Event()
        self._active.add(cancel)
        self._idle.clear()
        t0 = self._clock()
        try:
            async with contextlib.aclosing(pool.generate(work, cancel)) as events:
                first = await anext(events)  # errors before any text still get their 4xx status
                if isinstance(first, Finish) and first.reason == FINISH_CANCELLED:
                    raise _cancelled()  # nothing sent yet: a real 503 lets the gateway fail over
                if run.stream:
                    return await self._stream(request, run, first, events, t0)
                return await self._collect(run, first, events, t0)
        finally:
            self._active.discard(cancel)
            if not self._active:
                self._idle.set()

    async def _deltas(
        self, run: Reply, first: Event, events: AsyncIterator[Event], t0: float,
        emit: Callable[[Delta], Awaitable[None]],
    ) -> Finish:
        """Pass each piece of text to `emit` and return the generation's end, recording its timings
        and tokens; a generation the node cancelled is a 503 (the client is still there to hear it)."""
        t_first: float | None = None
        event = first
        while isinstance(event, Delta):
            if t_first is None:
                t_first = self._clock()
                self.metrics.first_token(run.model, t_first - t0)
            await emit(event)
            event = await anext(events)
        if event.reason == FINISH_CANCELLED:
            raise _cancelled()
        usage = event.usage
        self.metrics.tokens(run.model, usage.prompt_tokens, usage.completion_tokens)
        if t_first is not None and usage.completion_tokens > 1:
            elapsed = self._clock() - t_first
            if elapsed > 0:
                self.metrics.decode_speed(run.model, (usage.completion_tokens - 1) / elapsed)
        return event

    async def _collect(self, run: Reply, first: Event, events: AsyncIterator[Event], t0: float) -> web.Response:
        parts = [run.echo]
        tokens: list[TokenLogprob] = []

        async def keep(delta: Delta) -> None:
            parts.append(delta.text)
            tokens.extend(delta.logprobs)

        finish = await self._deltas(run, first, events, t0, keep)
        text = "".join(parts)
        if not run.tools:
            return web.json_response(run.whole(text, finish, tokens))
        parser = ToolCallParser()
        pieces = [*parser.feed(text), *parser.close()]
        content = "".join(p.text for p in pieces if isinstance(p, TextPiece))
        return web.json_response(run.whole(content, finish, tokens, parser.calls))

    async def _stream(
        self, request: web.Request, run: Reply, first: Event, events: AsyncIterator[Event], t0: float
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers=SSE_HEADERS)
        await response.prepare(request)
        try:
            await self._stream_body(response, run, first, events, t0)
        except ConnectionResetError:
            run.client_gone = True  # leaving closes `events`, which cancels the generation
        except OpenAIError as err:  # after the status line: the error travels as an SSE event
            await self._write_error(response, run, err)
        except Exception:
            log.exception("generation failed mid-stream on model %s", run.model)
            await self._write_error(response, run, ServerError("The generation failed.", code="internal_error"))
        return response

    async def _write_error(self, response: web.StreamResponse, run: Reply, err: OpenAIError) -> None:
        try:
            await response.write(error_frame(err))
            await response.write_eof()
        except ConnectionResetError:
            run.client_gone = True

    async def _stream_body(
        self, response: web.StreamResponse, run: Reply, first: Event, events: AsyncIterator[Event], t0: float
    ) -> None:
        if run.chat:
            await response.write(frame(run.chunk(run.echo, role=True)))
        elif run.echo:
            await response.write(frame(run.chunk(run.echo)))

        parser = ToolCallParser() if run.tools else None

        async def send_pieces(pieces: list[ParsedPiece], tokens: tuple[TokenLogprob, ...]) -> None:
            for piece in pieces:
                if isinstance(piece, TextPiece):
                    await response.write(frame(run.chunk(piece.text, tokens=tokens)))
                    tokens = ()
                else:
                    await response.write(frame(run.call_chunk(piece)))

        async def send(delta: Delta) -> None:
            if parser is None:
                await response.write(frame(run.chunk(delta.text, tokens=delta.logprobs)))
            else:
                await send_pieces(parser.feed(delta.text), delta.logprobs)

        finish = await self._deltas(run, first, events, t0, send)
        if parser is not None:
            await send_pieces(parser.close(), ())
        reason = finish_reason(finish, called=parser is not None and parser.called)
        await response.write(frame(run.chunk(None if run.chat else "", reason)))
        if run.include_usage:
            await response.write(frame(run.usage_chunk(finish)))
        await response.write(DONE)
        await response.write_eof()
