"""The llama.cpp backend (llama-cpp-python): one `Llama` object per slot.

We drive `Llama.generate()` ourselves rather than `create_chat_completion()`: the token loop is
the same llama.cpp eval/sample path, but owning it gives exact usage on streams, the context check
before any text, a cancel check between every two tokens, and one stop-sequence rule shared with
the fake backend. The prompt's KV cache prefix is reused between requests on the same slot.

Chat templates come from the GGUF metadata (`tokenizer.chat_template`) unless a named format is
given (`gemma` for the bundled model, which has no template). `response_format` becomes a GBNF
grammar (JSON, or the JSON schema's grammar). logprobs come from the logits llama.cpp computed for
the sampled position (the raw model distribution, read before the next token is evaluated), so
they cost nothing unless asked for and need no `logits_all`.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
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
from shareai.agent.backends.json_schema import unenforced
from shareai.agent.backends.tool_grammar import tool_grammar
from shareai.agent.toolcalls import openai_messages, openai_tools, render_messages
from shareai.wire.errors import InvalidRequest
from shareai.wire.validation import ChatMessage, ResponseFormat, Tools

log = logging.getLogger(__name__)

# llama-cpp-python's own defaults for create_chat_completion / create_completion.
CHAT_TEMPERATURE = 0.2
TEXT_TEMPERATURE = 0.8
TOP_P = 0.95
TOP_K = 40
MIN_P = 0.05


class ModelLoadError(RuntimeError):
    """The GGUF file could not be loaded or has no usable chat template; the message says why."""


def _named_formatters() -> dict[str, Callable[..., Any]]:
    from llama_cpp import llama_chat_format as f

    return {
        "gemma": f.format_gemma,
        "chatml": f.format_chatml,
        "llama-2": f.format_llama2,
        "llama-3": f.format_llama3,
        "mistral-instruct": f.format_mistral_instruct,
        "zephyr": f.format_zephyr,
        "qwen": f.format_qwen,
        "alpaca": f.format_alpaca,
        "vicuna": f.format,
        "openchat": f.format_openchat,
    }


def chat_formats() -> list[str]:
    """The named chat formats `--chat-format` accepts."""
    return sorted(_named_formatters())


# VRAM kept free for the KV cache and scratch buffers when choosing n_gpu_layers.
GPU_RESERVE_BYTES = 512 << 20


def gpu_layers_for(
    free_vram_bytes: int, model_bytes: int, n_layers: int, reserve_bytes: int = GPU_RESERVE_BYTES
) -> int:
    """Layers to offload: all (-1) when the model fits in free VRAM with a reserve for the KV cache
    and scratch buffers, else the share of layers that fits, 0 without room."""
    room = free_vram_bytes - reserve_bytes
    if room <= 0 or model_bytes <= 0:
        return 0
    if room >= model_bytes:
        return -1
    return max(0, int(n_layers * room / model_bytes))


def auto_gpu_layers(path: Path) -> int:
    """`n_gpu_layers` from free VRAM on GPU 0; 0 on a CPU-only build or without NVML."""
    import llama_cpp

    if not llama_cpp.llama_supports_gpu_offload():
        return 0
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            free = int(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0)).free)
        finally:
            pynvml.nvmlShutdown()
    except Exception as exc:  # no driver, no library, no device: CPU it is
        log.info("no GPU memory reading (%s); n_gpu_layers=0", exc)
        return 0
    size = path.stat().st_size
    if free - GPU_RESERVE_BYTES >= size:  # it all fits: no need to read the layer count
        return -1
    probe = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    n_layers = next((int(v) for k, v in probe.metadata.items() if k.endswith(".block_count")), 0)
    return gpu_layers_for(free, size, n_layers)


def model_digest(llama: Any) -> str:
    """A short digest naming the model a `Llama` runs: its GGUF metadata and file size (hashing the
    whole file would take seconds for big models; the metadata names architecture, weights'
    quantisation, tokenizer and training context, which is what tells two models apart)."""
    meta = json.dumps(sorted((str(k), str(v)) for k, v in dict(llama.metadata).items()))
    path = Path(str(getattr(llama, "model_path", "")))
    size = path.stat().st_size if path.is_file() else 0
    return hashlib.sha256(f"{meta}|{size}".encode()).hexdigest()[:12]


def _system_into_first_user(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Gemma has no system role (llama-cpp-python's `gemma` format drops system messages); its own
    template puts the system text at the start of the first user turn, and so do we."""
    system = "\n\n".join(m["content"] for m in msgs if m["role"] == "system" and m["content"])
    rest = [m for m in msgs if m["role"] != "system"]
    if not system:
        return rest
    for i, m in enumerate(rest):
        if m["role"] == "user":
            rest[i] = {"role": "user", "content": f"{system}\n\n{m['content']}"}
            return rest
    return [{"role": "user", "content": system}, *rest]


class LlamaBackend(Backend):
    supports_logprobs = True
    supports_tools = True  # any chat format: tools are rendered into the prompt where the template has none

    def __init__(self, llama: Any, *, chat_format: str | None = None, embeddings: bool = False) -> None:
        import llama_cpp

        self._llama = llama
        self._lib = llama_cpp
        self.embeddings = embeddings
        self.n_embd = int(llama.n_embd()) if embeddings else 0
        # An embedding model is never asked to chat: it needs no template.
        self._formatter = None if embeddings else self._resolve_formatter(chat_format)
        self.chat_format = chat_format or "gguf"
        # A GGUF template that renders `tools` itself gets them (and the messages in OpenAI's shape).
        template = "" if chat_format else str(self._llama.metadata.get("tokenizer.chat_template", ""))
        self.template_tools = "tools" in template and "tool_calls" in template
        self.fingerprint = f"llama.cpp-{model_digest(llama)}"

    @classmethod
    def load(
        cls, path: Path, *, chat_format: str | None, n_ctx: int, n_gpu_layers: int | None, n_threads: int | None = None,
        embeddings: bool = False,
    ) -> LlamaBackend:
        """Blocking (seconds for big models): call it off the event loop. `embeddings=True` loads the
        model for embeddings only (mean-pooled over the input's tokens, one input per batch)."""
        import llama_cpp

        if not path.is_file():
            raise ModelLoadError(f"model file not found: {path}")
        layers = auto_gpu_layers(path) if n_gpu_layers is None else n_gpu_layers
        extra: dict[str, Any] = {}
        if embeddings:
            # A whole input in one batch (pooling needs every token of the sequence at once).
            extra = {"embedding": True, "pooling_type": llama_cpp.LLAMA_POOLING_TYPE_MEAN, "n_batch": n_ctx,
                     "n_ubatch": n_ctx}
        try:
            llama = llama_cpp.Llama(
                model_path=str(path), n_ctx=n_ctx, n_gpu_layers=layers, n_threads=n_threads, verbose=False, **extra
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"could not load {path}: {exc}") from None
        try:
            backend = cls(llama, chat_format=chat_format, embeddings=embeddings)
        except ModelLoadError:
            llama.close()
            raise
        log.info("loaded %s (n_ctx=%d, n_gpu_layers=%d)", path.name, llama.n_ctx(), layers)
        return backend

    def _resolve_formatter(self, chat_format: str | None) -> Callable[..., Any]:
        from llama_cpp import llama_chat_format as f

        named = _named_formatters()
        if chat_format is not None:
            if chat_format not in named:
                raise ModelLoadError(f"unknown chat format {chat_format!r}; known: {', '.join(sorted(named))}")
            return named[chat_format]
        template = self._llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelLoadError(
                "the model has no chat template in its GGUF metadata; name one with --chat-format "
                f"({', '.join(sorted(named))})"
            )
        eos, bos = self._llama.token_eos(), self._llama.token_bos()
        return f.Jinja2ChatFormatter(
            template=template,
            eos_token=self._piece(eos) if eos >= 0 else "",
            bos_token=self._piece(bos) if bos >= 0 else "",
            stop_token_ids=[eos],
        )

    def _piece(self, token: int) -> str:
        return bytes(self._llama.detokenize([token], special=True)).decode("utf-8", errors="replace")

    @property
    def n_ctx(self) -> int:
        return int(self._llama.n_ctx())

    @property
    def n_past(self) -> int:
        """Tokens in the KV cache now (the last prompt plus what was generated after it)."""
        return int(self._llama.n_tokens)

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def embed(self, inputs: Sequence[str | list[int]]) -> Embeddings:
        """Each input decoded on its own (so a batch equals its inputs sent one by one), mean-pooled
        by llama.cpp, L2-normalised. Token arrays are used as given (ids checked against the vocab)."""
        if not self.embeddings:
            raise NotImplementedError("this model was not loaded for embeddings")
        llama, n_vocab = self._llama, self._llama.n_vocab()
        vectors, total = [], 0
        for i, item in enumerate(inputs):
            if isinstance(item, list):
                bad = next((t for t in item if not 0 <= t < n_vocab), None)
                if bad is not None:
                    raise InvalidRequest(f"input[{i}] holds the token {bad}, which is not in this model's "
                                         f"vocabulary (0 to {n_vocab - 1}).", param="input", code="invalid_value")
                tokens = list(item)
            else:
                tokens = llama.tokenize(item.encode("utf-8"), add_bos=True, special=False)
            check_embedding_input(len(tokens), self.n_ctx, i)
            total += len(tokens)
            llama._ctx.kv_cache_clear()
            llama._batch.reset()
            llama._batch.add_sequence(tokens, 0, True)
            llama._ctx.decode(llama._batch)
            ptr = self._lib.llama_get_embeddings_seq(llama._ctx.ctx, 0)
            vectors.append(normalised(ptr[: self.n_embd]))
        llama._ctx.kv_cache_clear()
        llama._batch.reset()
        return Embeddings(vectors, total)

    def _prompt(self, messages: list[ChatMessage], tools: Tools | None) -> Any:
        assert self._formatter is not None, "an embedding model does not chat"
        if self.template_tools:
            if tools is not None and tools.active:
                return self._formatter(messages=openai_messages(messages), tools=openai_tools(tools))
            return self._formatter(messages=openai_messages(messages))
        msgs = render_messages(messages, tools)
        if self.chat_format == "gemma":
            msgs = _system_into_first_user(msgs)
        return self._formatter(messages=msgs)

    def chat(self, messages: list[ChatMessage], params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        result = self._prompt(messages, params.tools)
        tokens = self._llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        extra = result.stop if isinstance(result.stop, list) else [result.stop] if result.stop else []
        return self._run(tokens, params, cancel, template_stops=extra, temperature=CHAT_TEMPERATURE,
                         prompt_param="messages")

    def complete(self, prompt: str, params: GenParams, cancel: threading.Event) -> Iterator[Event]:
        tokens = self._llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        return self._run(tokens, params, cancel, template_stops=[], temperature=TEXT_TEMPERATURE,
                         prompt_param="prompt")

    def _grammar(self, rf: ResponseFormat | None, tools: Tools | None = None) -> Any:
        from llama_cpp import llama_grammar as g

        if tools is not None and tools.active:
            return g.LlamaGrammar.from_string(tool_grammar(tools, rf), verbose=False)
        if rf is None:
            return None

        if rf.type == "json_object" or not rf.schema:
            return g.LlamaGrammar.from_string(g.JSON_GBNF, verbose=False)
        found = unenforced(rf.schema)
        if found:
            keyword, where = found
            raise InvalidRequest(
                f"The JSON schema uses '{keyword}' (at '{where or '/'}'), which this node cannot enforce; "
                "remove it or describe the constraint in the prompt.",
                param="response_format.json_schema.schema",
                code="unsupported_value",
            )
        try:
            return g.LlamaGrammar.from_json_schema(json.dumps(rf.schema), verbose=False)
        except Exception as exc:  # the converter raises bare Exceptions on schemas it cannot express
            raise InvalidRequest(
                f"The JSON schema cannot be turned into a grammar: {exc}",
                param="response_format.json_schema.schema",
                code="invalid_value",
            ) from None

    def _logprob(self, token: int, top: int) -> TokenLogprob:
        """The sampled token's log-probability (log-softmax of the logits at its position) and the
        `top` most likely tokens there. Valid only until the next token is evaluated."""
        import numpy as np

        n_vocab = self._llama.n_vocab()
        ptr = self._lib.llama_get_logits_ith(self._llama._ctx.ctx, -1)
        logits = np.ctypeslib.as_array(ptr, shape=(n_vocab,)).astype(np.float64)
        peak = logits.max()
        logsumexp = peak + np.log(np.exp(logits - peak).sum())
        best: list[tuple[str, float]] = []
        if top > 0:
            idx = np.argpartition(-logits, top)[:top]
            idx = idx[np.argsort(-logits[idx])]
            best = [(self._text(int(i)), float(logits[i] - logsumexp)) for i in idx]
        return TokenLogprob(self._text(token), float(logits[token] - logsumexp), tuple(best))

    def _text(self, token: int) -> str:
        return bytes(self._llama.detokenize([token])).decode("utf-8", errors="replace")

    def _is_eog(self, token: int) -> bool:
        return bool(self._lib.llama_vocab_is_eog(self._llama._model.vocab, token))

    def _run(
        self, tokens: list[int], params: GenParams, cancel: threading.Event, *, template_stops: list[str],
        temperature: float, prompt_param: str,
    ) -> Iterator[Event]:
        # Validation happens here, on the first next(), before any text: see base.py.
        budget = token_budget(len(tokens), params.max_tokens, self.n_ctx, prompt_param=prompt_param)
        grammar = self._grammar(params.response_format, params.tools)
        self._llama.set_seed(params.seed if params.seed is not None else self._lib.LLAMA_DEFAULT_SEED)
        stops = StopMatcher([*params.stop, *template_stops])
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        produced = 0
        reason = FINISH_LENGTH
        hit = False
        pending: list[TokenLogprob] = []
        generator = self._llama.generate(
            tokens,
            top_k=TOP_K,
            top_p=params.top_p if params.top_p is not None else TOP_P,
            min_p=MIN_P,
            temp=params.temperature if params.temperature is not None else temperature,
            repeat_penalty=1.0,
            frequency_penalty=params.frequency_penalty or 0.0,
            presence_penalty=params.presence_penalty or 0.0,
            grammar=grammar,
        )
        try:
            if cancel.is_set():
                reason = FINISH_CANCELLED
            else:
                for token in generator:
                    if cancel.is_set():
                        reason = FINISH_CANCELLED
                        break
                    if self._is_eog(token):
                        reason = FINISH_STOP
                        break
                    produced += 1
                    if params.logprobs is not None:
                        pending.append(self._logprob(token, params.logprobs))
                    text, hit = stops.feed(decoder.decode(bytes(self._llama.detokenize([token]))))
                    if text:
                        yield Delta(text, tuple(pending))
                        pending.clear()
                    if hit:
                        reason = FINISH_STOP
                        break
                    if produced >= budget:
                        reason = FINISH_LENGTH
                        break
        finally:
            generator.close()
        if reason != FINISH_CANCELLED and not hit:  # text after a stop sequence is never sent
            tail = stops.feed(decoder.decode(b"", final=True))[0] + stops.flush()
            if tail:
                yield Delta(tail, tuple(pending))
        yield Finish(reason, Usage(len(tokens), produced))

    def close(self) -> None:
        self._llama.close()
