"""Relaying an upstream SSE stream to the client, event by event, never buffered whole.

The gateway always asks upstreams for `stream_options.include_usage` so it can account for every
stream; when the client did not ask for usage, the extra usage-only chunk (and the `usage: null`
field on the others) is removed so the client sees exactly what it asked for. Once the first
bytes are out the status line is gone, so an upstream that breaks off mid-stream ends the stream
with an SSE `{"error": ...}` event and no `[DONE]`; a client that disconnects ends the relay and
closes the upstream response, which cancels the upstream request.

With a `Cap` (a request under a token quota or `tpm`), the relay counts the completion tokens the
upstream sends: one per delta that carries any text or tool call (every such delta comes from at
least one generated token, so the count never runs ahead of the upstream's own), or the upstream's
`usage.completion_tokens` when a chunk reports it and it is higher. A chunk that would take the
count past the cap is not relayed: the stream ends there with `finish_reason: "length"` for each
open choice, the usage chunk if the client asked (the whole reservation, which is what is booked),
and `[DONE]`. An upstream that honours `max_tokens` never reaches this.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from shareai.coordinator.gateway.conform import conform_chunk
from shareai.coordinator.gateway.forward import StreamStart
from shareai.wire import jsonc
from shareai.wire.errors import OpenAIError, UpstreamFailed, UpstreamTimeout
from shareai.wire.sse import DONE, SSEParser, error_frame, frame


@dataclass(frozen=True, slots=True)
class Cap:
    """The reservation of a token-limited stream: its completion part is enforced by the relay."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(slots=True)
class RelayResult:
    usage: dict[str, Any] | None = None
    capped: bool = False  # ended by the relay at the cap (the upstream ignored max_tokens)
    counted: int = 0  # completion tokens counted so far (see the module docstring)
    completed: bool = False  # upstream sent [DONE] and so did we
    client_gone: bool = False
    error: OpenAIError | None = None
    error_relayed: bool = False  # the upstream sent its own SSE error event, already passed on
    assembled: Assembler | None = None  # the whole answer, rebuilt for the response cache


_TEXT_DELTA = frozenset({"role", "content"})
# Top-level fields of a completion (and its chunks) that are kept when the upstream sent them.
_OPTIONAL_HEAD = ("system_fingerprint", "service_tier")


class Assembler:
    """Rebuilds the non-streaming answer from a stream's chunks, so streams can fill the cache."""

    def __init__(self) -> None:
        self.head: dict[str, Any] = {}
        self.texts: dict[int, list[str]] = {}
        self.finish: dict[int, str | None] = {}
        self.chat = True
        # Only text is rebuilt: a stream with tool calls, logprobs or anything else in its deltas
        # is not cached (a hit would otherwise answer with less than the original said).
        self.cacheable = True

    def add(self, obj: dict[str, Any]) -> None:
        if not self.head:
            # Optional fields only when the upstream sent them (`system_fingerprint` is a string
            # in OpenAI's schema, never null).
            self.head = {k: obj.get(k) for k in ("id", "created", "model")}
            self.head.update({k: obj[k] for k in _OPTIONAL_HEAD if obj.get(k) is not None})
            self.chat = obj.get("object") == "chat.completion.chunk"
        for choice in obj.get("choices") or []:
            i = choice.get("index", 0)
            delta = choice.get("delta") or {}
            if choice.get("logprobs") is not None or (
                    self.chat and any(v is not None for k, v in delta.items() if k not in _TEXT_DELTA)):
                self.cacheable = False
            text = delta.get("content") if self.chat else choice.get("text")
            if isinstance(text, str):
                self.texts.setdefault(i, []).append(text)
            if choice.get("finish_reason"):
                self.finish[i] = choice["finish_reason"]

    def body(self, usage: dict[str, Any] | None) -> dict[str, Any]:
        choices: list[dict[str, Any]] = []
        for i in sorted(set(self.texts) | set(self.finish)):
            text = "".join(self.texts.get(i, []))
            if self.chat:
                choices.append({"index": i, "message": {"role": "assistant", "content": text, "refusal": None},
                                "finish_reason": self.finish.get(i), "logprobs": None})
            else:
                choices.append({"index": i, "text": text, "finish_reason": self.finish.get(i), "logprobs": None})
        return {**self.head, "object": "chat.completion" if self.chat else "text_completion", "choices": choices,
                "usage": usage}


class _ClientGone(Exception):
    pass


@dataclass(slots=True)
class _CapState:
    """What a capped relay needs to end a stream itself: the chunk shape and the open choices."""

    last: dict[str, Any] = field(default_factory=dict)
    open_choices: set[int] = field(default_factory=set)

    def note(self, obj: dict[str, Any]) -> None:
        if obj.get("object"):
            self.last = obj
        for choice in obj.get("choices") or []:
            if not isinstance(choice, dict) or not isinstance(choice.get("index", 0), int):
                continue
            if choice.get("finish_reason"):
                self.open_choices.discard(choice.get("index", 0))
            else:
                self.open_choices.add(choice.get("index", 0))


async def _write(client: web.StreamResponse, data: bytes) -> None:
    try:
        await client.write(data)
    except (ConnectionResetError, ConnectionError) as exc:
        raise _ClientGone() from exc


def _generated(choice: Any) -> bool:
    """Whether a streamed choice carries generated output (text, a refusal, a tool call ...)."""
    if not isinstance(choice, dict):
        return False
    if choice.get("text"):
        return True
    delta = choice.get("delta")
    return isinstance(delta, dict) and any(v for k, v in delta.items() if k != "role")


def _count(obj: dict[str, Any], result: RelayResult) -> None:
    choices = obj.get("choices")
    if isinstance(choices, list):
        result.counted += sum(1 for c in choices if _generated(c))
    usage = obj.get("usage")
    reported = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if isinstance(reported, int) and not isinstance(reported, bool):
        result.counted = max(result.counted, reported)


def _cap_frames(last: dict[str, Any], open_choices: set[int], cap: Cap, include_usage: bool) -> bytes:
    """The end of a stream cut at its cap: `length` for each open choice, usage if asked."""
    chat = last.get("object") == "chat.completion.chunk"
    base: dict[str, Any] = {k: last[k] for k in ("id", "object", "created", "model", *_OPTIONAL_HEAD)
                            if last.get(k) is not None}
    frames = []
    for i in sorted(open_choices or {0}):
        choice: dict[str, Any] = ({"index": i, "delta": {}, "finish_reason": "length", "logprobs": None} if chat
                                  else {"index": i, "text": "", "finish_reason": "length", "logprobs": None})
        frames.append(frame({**base, "choices": [choice]}))
    if include_usage:
        usage = {"prompt_tokens": cap.prompt_tokens, "completion_tokens": cap.completion_tokens,
                 "total_tokens": cap.prompt_tokens + cap.completion_tokens}
        frames.append(frame({**base, "choices": [], "usage": usage}))
    return b"".join(frames)


def _filter(event: str, include_usage: bool, result: RelayResult, model: str | None,
            cap: Cap | None = None, state: _CapState | None = None) -> bytes | None:
    try:
        obj = jsonc.loads(event)
    except (ValueError, RecursionError):  # not JSON, or a hostile upstream's deep nesting: relayed as is
        return frame(event)
    if not isinstance(obj, dict):
        return frame(event)
    if cap is not None and state is not None and "error" not in obj:
        _count(obj, result)
        if result.counted > cap.completion_tokens:
            result.capped = True
            return None
        state.note(obj)
    if model is not None and "model" in obj:
        obj["model"] = model  # the public name, not the upstream's (every chunk is re-encoded anyway)
    conform_chunk(obj)
    if "error" in obj:
        result.error_relayed = True
    elif result.assembled is not None:
        result.assembled.add(obj)
    usage = obj.get("usage")
    if usage:
        result.usage = usage
    if not include_usage:
        if usage and not obj.get("choices"):
            return None
        obj.pop("usage", None)
    return frame(obj)


async def relay(start: StreamStart, client: web.StreamResponse, *, include_usage: bool,
                read_timeout_s: float, assemble: bool = False, model: str | None = None,
                cap: Cap | None = None) -> RelayResult:
    """Relay `start` to `client`; `model` (the public name the client asked for) replaces the
    upstream's `model` in every chunk; `cap` ends the stream at the reservation (module docstring)."""
    result = RelayResult(assembled=Assembler() if assemble else None)
    state = _CapState() if cap is not None else None
    parser = SSEParser()
    upstream = start.response
    chunk = start.first
    done = False
    try:
        while True:
            out: list[bytes] = []
            for event in parser.feed(chunk):
                if event == "[DONE]":
                    done = True
                    continue
                data = _filter(event, include_usage, result, model, cap, state)
                if result.capped:
                    break
                if data is not None:
                    out.append(data)
            if cap is not None and state is not None and result.capped:
                out.append(_cap_frames(state.last, state.open_choices, cap, include_usage))
                result.usage = {"prompt_tokens": cap.prompt_tokens, "completion_tokens": cap.completion_tokens}
                done = True
            if out:
                await _write(client, b"".join(out))
            if done:
                break
            async with asyncio.timeout(read_timeout_s):
                chunk = await upstream.content.readany()
            if not chunk:
                break
        if done:
            await _write(client, DONE)
            result.completed = True
        else:
            result.error = UpstreamFailed("The upstream closed the stream before it completed.",
                                          code="upstream_stream_cut")
    except _ClientGone:
        result.client_gone = True
    except TimeoutError:
        result.error = UpstreamTimeout("The upstream stopped sending mid-stream.")
    except aiohttp.ClientError as exc:
        result.error = UpstreamFailed(f"The upstream stream broke off: {type(exc).__name__}.",
                                      code="upstream_stream_cut")
    finally:
        upstream.close()
    if result.error is not None and not result.error_relayed:
        try:
            await _write(client, error_frame(result.error))
        except _ClientGone:
            result.client_gone = True
    return result


def replay_frames(body: dict[str, Any], include_usage: bool) -> bytes:
    """A cached complete answer as the stream the client asked for (one delta per choice)."""
    chat = body.get("object") == "chat.completion"
    base = {"id": body.get("id", "cached"), "object": "chat.completion.chunk" if chat else "text_completion",
            "created": body.get("created", 0), "model": body.get("model", ""),
            **{k: body[k] for k in _OPTIONAL_HEAD if body.get(k) is not None}}
    frames: list[bytes] = []
    for choice in body.get("choices", []):
        index = choice.get("index", 0)
        logprobs = choice.get("logprobs")  # the original's, on the chunk that carries the text
        if chat:
            message = choice.get("message") or {}
            delta = {"role": message.get("role", "assistant"), "content": message.get("content", "")}
            if message.get("refusal") is not None:
                delta["refusal"] = message["refusal"]
            if message.get("tool_calls"):  # stream deltas number their tool calls
                delta["tool_calls"] = [{"index": j, **call} for j, call in enumerate(message["tool_calls"])]
            if message.get("function_call"):
                delta["function_call"] = message["function_call"]
            frames.append(frame({**base, "choices": [{"index": index, "delta": delta, "logprobs": logprobs,
                                                      "finish_reason": None}]}))
            frames.append(frame({**base, "choices": [{"index": index, "delta": {}, "logprobs": None,
                                                      "finish_reason": choice.get("finish_reason")}]}))
        else:
            frames.append(frame({**base, "choices": [{"index": index, "text": choice.get("text", ""),
                                                      "logprobs": logprobs,
                                                      "finish_reason": choice.get("finish_reason")}]}))
    if include_usage and body.get("usage"):
        frames.append(frame({**base, "choices": [], "usage": body["usage"]}))
    frames.append(DONE)
    return b"".join(frames)
