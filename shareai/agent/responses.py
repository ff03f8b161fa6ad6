"""OpenAI response bodies for one generation: whole responses, stream chunks, logprobs.

`Reply` holds what stays the same across a request's chunks (the one `id`, `created`, the model,
the `system_fingerprint` naming the node's runtime and model) and turns backend events into the
exact shapes of `chat.completion`, `chat.completion.chunk` and `text_completion`, including both
logprobs layouts (chat's `content` list and the legacy completions' parallel arrays with
`text_offset`) and tool calls: a whole message's `tool_calls` (with `content: null` and
`finish_reason: "tool_calls"`), and in a stream one delta per call opening it (`index`, `id`,
`type`, `function.name`, empty `arguments`) followed by deltas carrying argument fragments.
"""

from __future__ import annotations

import base64
import struct
import uuid
from collections.abc import Sequence
from typing import Any

from shareai.agent.backends.base import FINISH_STOP, Embeddings, Finish, TokenLogprob, normalised
from shareai.agent.toolcalls import CallArguments, CallStart
from shareai.wire.validation import ToolCall

FINISH_TOOL_CALLS = "tool_calls"


def _chat_entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


class Reply:
    def __init__(
        self, *, chat: bool, model: str, created: int, stream: bool, include_usage: bool, echo: str = "",
        logprobs: bool = False, fingerprint: str = "", tools: bool = False,
    ) -> None:
        self.chat = chat
        self.tools = tools  # the model may call tools: its text goes through a ToolCallParser
        self.fingerprint = fingerprint
        self.model = model
        self.id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        self.created = created
        self.stream = stream
        self.include_usage = include_usage
        self.echo = echo
        self.logprobs = logprobs
        self.client_gone = False
        self._offset = len(echo)  # completions' text_offset of the next token

    def _envelope(self, choices: list[dict[str, Any]], *, chunk: bool) -> dict[str, Any]:
        if self.chat:
            obj = "chat.completion.chunk" if chunk else "chat.completion"
        else:
            obj = "text_completion"
        out = {"id": self.id, "object": obj, "created": self.created, "model": self.model, "choices": choices}
        if self.fingerprint:  # a string or absent: OpenAI's schema has no null here
            out["system_fingerprint"] = self.fingerprint
        return out

    def _logprobs(self, tokens: Sequence[TokenLogprob]) -> dict[str, Any] | None:
        if not self.logprobs:
            return None
        if self.chat:
            return {"content": [
                {**_chat_entry(t.token, t.logprob), "top_logprobs": [_chat_entry(a, lp) for a, lp in t.top]}
                for t in tokens
            ], "refusal": None}
        offsets = []
        for t in tokens:
            offsets.append(self._offset)
            self._offset += len(t.token)
        return {
            "tokens": [t.token for t in tokens],
            "token_logprobs": [t.logprob for t in tokens],
            "top_logprobs": [dict(t.top) for t in tokens],
            "text_offset": offsets,
        }

    def chunk(
        self, text: str | None, finish_reason: str | None = None, *, role: bool = False,
        tokens: Sequence[TokenLogprob] = (),
    ) -> dict[str, Any]:
        logprobs = self._logprobs(tokens) if tokens else None
        if self.chat:
            delta: dict[str, Any] = {}
            if role:
                delta["role"] = "assistant"
            if text is not None:
                delta["content"] = text
            choice = {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
        else:
            choice = {"index": 0, "text": text or "", "logprobs": logprobs, "finish_reason": finish_reason}
        return self._envelope([choice], chunk=True)

    def call_chunk(self, piece: CallStart | CallArguments) -> dict[str, Any]:
        """A stream chunk opening a tool call, or carrying a fragment of its arguments."""
        if isinstance(piece, CallStart):
            call = {"index": piece.index, "id": piece.id, "type": "function",
                    "function": {"name": piece.name, "arguments": ""}}
        else:
            call = {"index": piece.index, "function": {"arguments": piece.fragment}}
        choice = {"index": 0, "delta": {"tool_calls": [call]}, "logprobs": None, "finish_reason": None}
        return self._envelope([choice], chunk=True)

    def usage_chunk(self, finish: Finish) -> dict[str, Any]:
        return {**self._envelope([], chunk=True), "usage": finish.usage.as_dict()}

    def whole(
        self, text: str, finish: Finish, tokens: Sequence[TokenLogprob] = (), calls: Sequence[ToolCall] = ()
    ) -> dict[str, Any]:
        logprobs = self._logprobs(tokens)
        if self.chat:
            message: dict[str, Any] = {"role": "assistant", "content": text or None if calls else text,
                                       "refusal": None}
            if calls:
                message["tool_calls"] = [{"id": c.id, "type": "function",
                                          "function": {"name": c.name, "arguments": c.arguments}} for c in calls]
            choice = {"index": 0, "message": message, "logprobs": logprobs,
                      "finish_reason": finish_reason(finish, called=bool(calls))}
        else:
            choice = {"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish.reason}
        return {**self._envelope([choice], chunk=False), "usage": finish.usage.as_dict()}


def finish_reason(finish: Finish, *, called: bool) -> str:
    """`tool_calls` when the model stopped after calling tools; else the generation's own reason."""
    return FINISH_TOOL_CALLS if called and finish.reason == FINISH_STOP else finish.reason


def _encoded(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":  # as OpenAI: the little-endian float32 bytes, base64-encoded
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


def embeddings_body(model: str, result: Embeddings, encoding_format: str, dimensions: int | None) -> dict[str, Any]:
    """The `/v1/embeddings` answer; `dimensions` shortens each vector (re-normalised), for the models
    that allow it (the server refuses it for the others)."""
    vectors = result.vectors
    if dimensions is not None and vectors and dimensions < len(vectors[0]):
        vectors = [normalised(v[:dimensions]) for v in vectors]
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": _encoded(v, encoding_format)}
                 for i, v in enumerate(vectors)],
        "model": model,
        "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens},
    }
