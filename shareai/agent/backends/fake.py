"""A light, deterministic in-process backend: no model file, same interface as llama.cpp.

It lets the slot pool, the server, the control plane and the gateway be tested in milliseconds.
A "token" is a word (the first without, the rest with a leading space); the reply is a fixed text
(ending with finish_reason `stop`, or repeated forever with `repeat=True`), produced one token
every `token_delay_s`. It honours `max_tokens`, `stop`, the context window, usage and cancellation
through the same helpers as the real backend; logprobs are all 0.0 (every token is certain)::

    FakeBackend(reply="Hello there.", token_delay_s=0.01, n_ctx=512)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

from shareai.agent.backends.base import (
    FINISH_CANCELLED,
    FINISH_LENGTH,
    FINISH_STOP,
    Backend,
    Delta,
    Event,
    Finish,
    GenParams,
    StopMatcher,
    TokenLogprob,
    Usage,
    token_budget,
)
from shareai.wire.validation import ChatMessage

DEFAULT_REPLY = "Hello! This is the fake backend speaking, one word at a time."


class FakeBackend(Backend):
    def __init__(
        self,
        *,
        reply: str = DEFAULT_REPLY,
        repeat: bool = False,
        token_delay_s: float = 0.0,
        prefill_delay_s: float = 0.0,
        n_ctx: int = 2048,
        supports_logprobs: bool = True,
    ) -> None:
        words = reply.split()
        if not words:
            raise ValueError("reply must contain at least one word")
        self._words = words
        self._repeat = repeat
        self._token_delay_s = token_delay_s
        self._prefill_delay_s = prefill_delay_s
        self._n_ctx = n_ctx
        self.supports_logprobs = supports_logprobs
        self.generations = 0  # how many generations ran (tests read it)

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    def count_tokens(self, text: str) -> int:
        return max(1, len(text.split()))

    def chat(self, messages: list[ChatMessage], params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        prompt = "".join(f"<{m.role}> {m.content}\n" for m in messages) + "<assistant>"
        return self._run(self.count_tokens(prompt), params, cancel, "messages")

    def complete(self, prompt: str, params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        return self._run(self.count_tokens(prompt), params, cancel, "prompt")

    def _reply_words(self, params: GenParams) -> list[str]:
        if params.response_format is not None:
            return json.dumps({"reply": " ".join(self._words)}).split(" ")
        return self._words

    def _run(
        self, prompt_tokens: int, params: GenParams, cancel: threading.Event, prompt_param: str
    ) -> Iterator[Event]:
        budget = token_budget(prompt_tokens, params.max_tokens, self._n_ctx, prompt_param=prompt_param)
        self.generations += 1
        words = self._reply_words(params)
        stops = StopMatcher(params.stop)
        if self._prefill_delay_s:
            cancel.wait(self._prefill_delay_s)
        produced = 0
        reason = FINISH_LENGTH
        pending: list[TokenLogprob] = []
        while True:
            if cancel.is_set():
                reason = FINISH_CANCELLED
                break
            if produced >= budget:
                reason = FINISH_LENGTH
                break
            if produced >= len(words) and not self._repeat:
                reason = FINISH_STOP
                break
            word = words[produced % len(words)]
            if self._token_delay_s and cancel.wait(self._token_delay_s):
                reason = FINISH_CANCELLED
                break
            produced += 1
            piece = word if produced == 1 else " " + word
            if params.logprobs is not None:  # deterministic: every token is certain
                pending.append(TokenLogprob(piece, 0.0, ((piece, 0.0),)[: params.logprobs]))
            text, hit = stops.feed(piece)
            if text:
                yield Delta(text, tuple(pending))
                pending.clear()
            if hit:
                reason = FINISH_STOP
                break
        tail = stops.flush()  # a partial stop match that never completed is ordinary text
        if tail and reason != FINISH_CANCELLED:
            yield Delta(tail, tuple(pending))
        yield Finish(reason, Usage(prompt_tokens, produced))
