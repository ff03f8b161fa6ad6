"""A light, deterministic in-process backend: no model file, same interface as llama.cpp.

It lets the slot pool, the server, the control plane and the gateway be tested in milliseconds.
A "token" is a word (the first without, the rest with a leading space); the reply is a fixed text
(ending with finish_reason `stop`, or repeated forever with `repeat=True`), produced one token
every `token_delay_s`. It honours `max_tokens`, `stop`, the context window, usage and cancellation
through the same helpers as the real backend; logprobs are all 0.0 (every token is certain)::

    FakeBackend(reply="Hello there.", token_delay_s=0.01, n_ctx=512)

With tools, it writes one call in the node's tool-call syntax (`shareai.agent.toolcalls`), a word at
a time, with the smallest arguments the tool's schema allows (`example_value`): of the named tool,
or the first tool, except under `tool_choice: auto` right after a tool result, when it answers its
reply text (so a round trip ends). `tool_choice: none` answers text.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from shareai.agent.backends.base import (
    FINISH_CANCELLED,
    FINISH_LENGTH,
    FINISH_STOP,
    Backend,
    Delta,
    Embeddings,
    Event,
    Finish,
    GenParams,
    StopMatcher,
    TokenLogprob,
    Usage,
    check_embedding_input,
    normalised,
    token_budget,
)
from shareai.agent.toolcalls import call_text
from shareai.wire.validation import ChatMessage

_PIECES = re.compile(r"\s*\S+")


def example_value(schema: Any, root: Any = None) -> Any:
    """The smallest value `schema` accepts, for the kinds of schema tool parameters use (enums and
    consts, objects with their required properties, arrays of minItems, the primitive types)."""
    root = schema if root is None else root
    if not isinstance(schema, dict):
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return example_value(target, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return example_value(schema[key][0], root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    props = schema.get("properties")
    if kind == "object" or (kind is None and isinstance(props, dict)):
        props = props if isinstance(props, dict) else {}
        required = schema.get("required") or list(props)
        return {k: example_value(props.get(k, {}), root) for k in required}
    if kind == "array":
        return [example_value(schema.get("items", {}), root) for _ in range(int(schema.get("minItems", 0)))]
    if kind == "string":
        return "x" * max(1, int(schema.get("minLength", 1)))
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    return None

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
        supports_tools: bool = True,
        embeddings: bool = False,
        n_embd: int = 8,
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
        self.supports_tools = supports_tools
        self.fingerprint = "fake"
        self.embeddings = embeddings
        self.n_embd = n_embd if embeddings else 0
        self.generations = 0  # how many generations ran (tests read it)

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    def count_tokens(self, text: str) -> int:
        return max(1, len(text.split()))

    def chat(self, messages: list[ChatMessage], params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        prompt = "".join(f"<{m.role}> {m.content}{''.join(c.arguments for c in m.tool_calls)}\n"
                         for m in messages) + "<assistant>"
        call = self._tool_call(messages, params)
        return self._run(self.count_tokens(prompt), params, cancel, "messages", call)

    def complete(self, prompt: str, params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        return self._run(self.count_tokens(prompt), params, cancel, "prompt")

    def embed(self, inputs: Sequence[str | list[int]]) -> Embeddings:
        """A deterministic vector per input: the sum of one pseudo-random vector per token (a word,
        or a token id), normalised; so equal inputs embed equally and word order does not matter."""
        if not self.embeddings:
            raise NotImplementedError("this FakeBackend was not made with embeddings=True")
        self.generations += 1
        vectors, total = [], 0
        for i, item in enumerate(inputs):
            tokens = [str(t) for t in item] if isinstance(item, list) else item.split() or [""]
            check_embedding_input(len(tokens), self._n_ctx, i)
            total += len(tokens)
            acc = [0.0] * self.n_embd
            for token in tokens:
                digest = hashlib.sha256(token.encode()).digest()
                for d in range(self.n_embd):
                    acc[d] += digest[d % len(digest)] / 255.0 - 0.5
            vectors.append(normalised(acc))
        return Embeddings(vectors, total)

    def _tool_call(self, messages: list[ChatMessage], params: GenParams) -> str | None:
        tools = params.tools
        if tools is None or not tools.active:
            return None
        if tools.mode == "auto" and messages and messages[-1].role in ("tool", "function"):
            return None
        tool = tools.callable()[0]
        return call_text(tool.name, json.dumps(example_value(tool.parameters)))

    def _reply_words(self, params: GenParams) -> list[str]:
        if params.response_format is not None:
            return json.dumps({"reply": " ".join(self._words)}).split(" ")
        return self._words

    def _run(
        self, prompt_tokens: int, params: GenParams, cancel: threading.Event, prompt_param: str,
        call: str | None = None,
    ) -> Iterator[Event]:
        budget = token_budget(prompt_tokens, params.max_tokens, self._n_ctx, prompt_param=prompt_param)
        self.generations += 1
        words = self._reply_words(params) if call is None else _PIECES.findall(call)
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
            if produced >= len(words) and (not self._repeat or call is not None):
                reason = FINISH_STOP
                break
            word = words[produced % len(words)]
            if self._token_delay_s and cancel.wait(self._token_delay_s):
                reason = FINISH_CANCELLED
                break
            produced += 1
            piece = word if produced == 1 or call is not None else " " + word
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
