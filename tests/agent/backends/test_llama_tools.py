"""Tool-call grammars and embeddings on the real llama.cpp runtime and the bundled model.

The tiny model's choices may be poor; what must be exact is the shape: every call names a declared
tool and its arguments parse and match that tool's JSON schema, whatever the model would rather
write. Generations stay short (the model runs at some tens of tokens a second on a small CPU).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from shareai.agent.backends.base import Delta, Finish, GenParams
from shareai.agent.backends.llama import LlamaBackend
from shareai.agent.backends.tool_grammar import tool_grammar
from shareai.agent.toolcalls import ToolCallParser
from shareai.wire.errors import ContextLengthExceeded, InvalidRequest
from shareai.wire.validation import ChatRequest, parse_chat_request

pytestmark = pytest.mark.llama

# Two tools that both define `#/$defs/Place`, differently: the grammar must keep them apart.
FORECAST = {"type": "function", "function": {"name": "get_forecast", "parameters": {
    "type": "object", "properties": {"place": {"$ref": "#/$defs/Place"}, "days": {"type": "integer"}},
    "required": ["place", "days"],
    "$defs": {"Place": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                        "required": ["city"]}}}}}
ROUTE = {"type": "function", "function": {"name": "plan_route", "parameters": {
    "type": "object", "properties": {"to": {"$ref": "#/$defs/Place"}, "mode": {"enum": ["walk", "bike"]}},
    "required": ["to", "mode"],
    "$defs": {"Place": {"type": "string", "enum": ["Paris", "Rome"]}}}}}
ASK = [{"role": "user", "content": "I want to go to Rome by bike. What is the weather there for 3 days?"}]


@pytest.fixture(scope="module")
def chat(model_path: Path) -> Iterator[LlamaBackend]:
    backend = LlamaBackend.load(model_path, chat_format="gemma", n_ctx=1024, n_gpu_layers=0)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def embed(model_path: Path) -> Iterator[LlamaBackend]:
    backend = LlamaBackend.load(model_path, chat_format=None, n_ctx=256, n_gpu_layers=0, embeddings=True)
    yield backend
    backend.close()


def _request(**body: Any) -> ChatRequest:
    return parse_chat_request({"model": "m", "messages": ASK, "tools": [FORECAST, ROUTE], **body})


def _run(backend: LlamaBackend, req: ChatRequest, max_tokens: int) -> tuple[str, Finish]:
    params = GenParams(max_tokens=max_tokens, temperature=0.0, seed=3, tools=req.tools)
    text, finish = "", None
    for event in backend.chat(req.messages, params, threading.Event()):
        if isinstance(event, Delta):
            text += event.text
        else:
            finish = event
    assert finish is not None
    return text, finish


def _tool_schema(name: str) -> dict[str, Any]:
    tool = next(t for t in (FORECAST, ROUTE) if t["function"]["name"] == name)
    return tool["function"]["parameters"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "plan_route"}}])
def test_forced_calls_name_a_declared_tool_and_match_its_schema(chat: LlamaBackend, choice: Any) -> None:
    text, finish = _run(chat, _request(tool_choice=choice, parallel_tool_calls=False), max_tokens=80)
    assert finish.reason == "stop", text  # one call, then the grammar lets it end
    parser = ToolCallParser()
    parser.feed(text)
    (call,) = parser.calls
    if isinstance(choice, dict):
        assert call.name == "plan_route"
    args = json.loads(call.arguments)
    jsonschema.validate(args, _tool_schema(call.name))


def test_auto_answers_text_or_valid_calls(chat: LlamaBackend) -> None:
    text, _ = _run(chat, _request(tool_choice="auto", parallel_tool_calls=False), max_tokens=60)
    parser = ToolCallParser()
    pieces = parser.feed(text) + parser.close()
    if parser.called:
        for call in parser.calls:
            jsonschema.validate(json.loads(call.arguments), _tool_schema(call.name))
    else:
        assert pieces and not text.startswith("<")


def test_the_grammar_keeps_same_named_defs_of_two_tools_apart() -> None:
    req = _request(tool_choice="required")
    assert req.tools is not None
    grammar = tool_grammar(req.tools)
    rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines())
    assert "t0-Place" in rules and "t1-Place" in rules and rules["t0-Place"] != rules["t1-Place"]
    assert rules["root"] == "tc-calls" and "tc-text" not in rules


def test_a_schema_the_grammar_cannot_enforce_is_a_400_before_any_text(chat: LlamaBackend) -> None:
    bad = {"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"n": {"type": "integer", "minimum": 3}}}}}
    req = parse_chat_request({"model": "m", "messages": ASK, "tools": [FORECAST, bad]})
    with pytest.raises(InvalidRequest) as err:
        next(iter(chat.chat(req.messages, GenParams(max_tokens=4, tools=req.tools), threading.Event())))
    assert err.value.param == "tools[1].function.parameters" and "minimum" in str(err.value)


# -- embeddings -----------------------------------------------------------------------------------------


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))  # the vectors are normalised


def test_embeddings_are_normalised_deterministic_and_batch_equals_singles(embed: LlamaBackend) -> None:
    texts = ["The cat sat on the mat.", "Quarterly revenue grew by ten percent.", "A kitten rests on a rug."]
    batch = embed.embed(texts)
    singles = [embed.embed([t]).vectors[0] for t in texts]
    assert len(batch.vectors) == 3 and all(len(v) == embed.n_embd > 0 for v in batch.vectors)
    for got, alone in zip(batch.vectors, singles, strict=True):
        assert abs(sum(v * v for v in got) - 1.0) < 1e-6
        assert max(abs(a - b) for a, b in zip(got, alone, strict=True)) < 1e-5
    assert abs(_cos(batch.vectors[0], embed.embed([texts[0]]).vectors[0]) - 1.0) < 1e-6
    # Not a constant: different texts get different vectors.
    assert _cos(batch.vectors[0], batch.vectors[1]) < 0.999
    assert batch.prompt_tokens == sum(embed.embed([t]).prompt_tokens for t in texts)


def test_token_arrays_embed_like_the_text_they_spell(embed: LlamaBackend) -> None:
    text = "hello world"
    tokens = embed._llama.tokenize(text.encode(), add_bos=True, special=False)
    by_text, by_tokens = embed.embed([text]), embed.embed([list(tokens)])
    assert by_tokens.prompt_tokens == by_text.prompt_tokens == len(tokens)
    assert max(abs(a - b) for a, b in zip(by_text.vectors[0], by_tokens.vectors[0], strict=True)) < 1e-6
    with pytest.raises(InvalidRequest) as err:
        embed.embed([[1, 10**9]])
    assert err.value.param == "input"
    with pytest.raises(ContextLengthExceeded):
        embed.embed(["word " * 400])
