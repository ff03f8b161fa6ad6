"""OpenAI response bodies for one generation: whole responses, stream chunks, logprobs.

`Reply` holds what stays the same across a request's chunks (the one `id`, `created`, the model)
and turns backend events into the exact shapes of `chat.completion`, `chat.completion.chunk` and
`text_completion`, including both logprobs layouts (chat's `content` list and the legacy
completions' parallel arrays with `text_offset`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from shareai.agent.backends.base import Finish, TokenLogprob


def _chat_entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


class Reply:
    def __init__(
        self, *, chat: bool, model: str, created: int, stream: bool, include_usage: bool, echo: str = "",
        logprobs: bool = False,
    ) -> None:
        self.chat = chat
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
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model,
                "system_fingerprint": None, "choices": choices}

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

    def usage_chunk(self, finish: Finish) -> dict[str, Any]:
        return {**self._envelope([], chunk=True), "usage": finish.usage.as_dict()}

    def whole(self, text: str, finish: Finish, tokens: Sequence[TokenLogprob] = ()) -> dict[str, Any]:
        logprobs = self._logprobs(tokens)
        if self.chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": logprobs,
                      "finish_reason": finish.reason}
        else:
            choice = {"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish.reason}
        return {**self._envelope([choice], chunk=False), "usage": finish.usage.as_dict()}
