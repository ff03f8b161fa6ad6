"""The model-runtime interface: one `Backend` instance is one slot, running one generation at a time.

A generation is a blocking iterator, run by the slot pool on the slot's own thread::

    for event in backend.chat(messages, params, cancel):
        if isinstance(event, Delta): ...      # a piece of text (one token, or a few held back by `stop`)
        else: event is the final `Finish`    # finish_reason and usage, always last, exactly once

Errors that depend on the prompt (`ContextLengthExceeded`, a bad `response_format` schema) are raised
on the first `next()`, before any text, so the server can still answer them with a 4xx status.
`cancel` (a `threading.Event`) is checked between tokens: once set, the iterator stops within one
token and finishes with reason `cancelled`, so a disconnected client frees its slot at once.

Every backend shares `StopMatcher` and `token_budget`, so the light in-process `FakeBackend` honours
`stop`, `max_tokens` and the context window exactly as the llama.cpp one does.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from shareai.wire.errors import ContextLengthExceeded
from shareai.wire.validation import ChatMessage, ResponseFormat, Tools

FINISH_STOP = "stop"
FINISH_LENGTH = "length"
FINISH_CANCELLED = "cancelled"  # internal: the client went away or the node cancelled the work


@dataclass(slots=True)
class GenParams:
    """What a request asks of the sampler; `None` means the backend's default."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: ResponseFormat | None = None
    logprobs: int | None = None  # None: not asked; k: the sampled token's logprob plus the k most likely
    # The tools the model may call (chat only); calls come out as text in the node's tool-call syntax
    # (`shareai.agent.toolcalls`), which the server turns into `tool_calls`.
    tools: Tools | None = None


@dataclass(slots=True, frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(slots=True, frozen=True)
class TokenLogprob:
    """A generated token under the model's distribution (before sampling settings), with the `top`
    most likely alternatives at that position as (token, logprob) pairs."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(slots=True, frozen=True)
class Delta:
    text: str
    # The tokens whose text this delta carries (only when logprobs were asked for). A stop sequence
    # holds text back, so one delta may carry several tokens.
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(slots=True, frozen=True)
class Finish:
    reason: str  # stop | length | cancelled
    usage: Usage


Event = Delta | Finish


@dataclass(slots=True, frozen=True)
class Embeddings:
    """One vector per input (L2-normalised, in input order) and the tokens the inputs took."""

    vectors: list[list[float]]
    prompt_tokens: int


class Backend(ABC):
    """One model instance. Not thread-safe: the pool gives it to one generation at a time."""

    #: Whether `logprobs` can be honoured; when False the server answers a 400 naming the param.
    supports_logprobs: bool = False
    #: Whether `tools` are honoured (calls written in the node's tool-call syntax); when False the server
    #: answers a 400 and the node does not advertise tools for the model.
    supports_tools: bool = False
    #: The runtime and the model it runs, for `system_fingerprint` (no spaces).
    fingerprint: str = "unknown"
    #: An embedding model: `embed` works, `chat` and `complete` are not served.
    embeddings: bool = False
    #: Whether `embed` can give shorter vectors than `n_embd` (`dimensions`; Matryoshka-trained models).
    supports_dimensions: bool = False
    #: The length of an embedding vector (0: not an embedding model).
    n_embd: int = 0

    @property
    @abstractmethod
    def n_ctx(self) -> int:
        """The context window in tokens (prompt plus completion)."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes as a raw prompt."""

    @abstractmethod
    def chat(self, messages: list[ChatMessage], params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        """Generate the assistant's reply to `messages` (the chat template applied)."""

    @abstractmethod
    def complete(self, prompt: str, params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        """Continue the raw text `prompt`."""

    def embed(self, inputs: Sequence[str | list[int]]) -> Embeddings:
        """The embedding of each input (text, or token ids); only when `embeddings` is True.
        An input longer than the context window is `ContextLengthExceeded` naming `input`."""
        raise NotImplementedError(f"{type(self).__name__} was not loaded as an embedding model")

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to free
        """Free the runtime's memory."""


def token_budget(prompt_tokens: int, max_tokens: int | None, n_ctx: int, *, prompt_param: str) -> int:
    """How many tokens may be generated: `max_tokens`, capped by what the window leaves after the
    prompt (the generation then ends with finish_reason `length`, as llama.cpp's server does, so a
    client's usual `max_tokens` still works on a node with a small window). A prompt that fills the
    window on its own is `ContextLengthExceeded`, naming `prompt_param` (`messages` or `prompt`).
    """
    if prompt_tokens >= n_ctx:
        raise ContextLengthExceeded(
            f"This model's maximum context length is {n_ctx} tokens. However, your {prompt_param} "
            f"resulted in {prompt_tokens} tokens. Please reduce the length of the {prompt_param}.",
            param=prompt_param,
        )
    room = n_ctx - prompt_tokens
    return room if max_tokens is None else min(max_tokens, room)


class StopMatcher:
    """Cuts generated text at the first stop sequence, holding back a possible partial match.

    `feed(text)` returns what is safe to send now and whether a stop sequence was hit; `flush()`
    returns what was held back when generation ends for another reason.
    """

    def __init__(self, stops: list[str]) -> None:
        self._stops = [s for s in stops if s]
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        buf = self._held + text
        if not self._stops:
            self._held = ""
            return buf, False
        cut = min((i for i in (buf.find(s) for s in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            self._held = ""
            return buf[:cut], True
        keep = 0
        for stop in self._stops:
            for k in range(min(len(stop) - 1, len(buf)), 0, -1):
                if buf.endswith(stop[:k]):
                    keep = max(keep, k)
                    break
        self._held = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep], False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held


def normalised(vector: Sequence[float]) -> list[float]:
    """`vector` scaled to unit L2 length (a zero vector stays zero)."""
    norm = sum(v * v for v in vector) ** 0.5
    return [float(v) / norm for v in vector] if norm > 0 else [0.0 for _ in vector]


def check_embedding_input(tokens: int, n_ctx: int, index: int) -> None:
    """An input that does not fit the window is a 400 (never silently truncated)."""
    if tokens > n_ctx:
        raise ContextLengthExceeded(
            f"This model's maximum context length is {n_ctx} tokens, but input[{index}] has {tokens} tokens. "
            "Please shorten it.", param="input")
