"""The prompt bound quotas reserve: UTF-8 bytes of every text part plus documented overheads, so no
tokenizer counts more; and the completion bound: the cap of every choice."""

from __future__ import annotations

import json

import pytest

from shareai.coordinator.gateway.requests import parse_body
from shareai.coordinator.gateway.targets import CHAT, COMPLETIONS, EMBEDDINGS
from shareai.coordinator.gateway.token_bound import IMAGE_TOKENS, MESSAGE_OVERHEAD, REQUEST_OVERHEAD, prompt_bound
from shareai.wire.errors import InvalidRequest

BASE = REQUEST_OVERHEAD + MESSAGE_OVERHEAD + len("user")


def chat(content: object, **extra: object) -> dict[str, object]:
    return {"model": "m", "messages": [{"role": "user", "content": content}], **extra}


def test_text_counts_its_utf8_bytes_not_characters() -> None:
    text = "日本語のテキスト" * 10  # 240 bytes, 80 characters (characters/4 would say 21)
    assert prompt_bound(CHAT, chat(text)) == BASE + len(text.encode())


def test_content_parts_names_and_tool_calls_all_count() -> None:
    msg = {"role": "assistant", "name": "bob",
           "content": [{"type": "text", "text": "abc"}, {"type": "text", "text": "de"}],
           "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}]}
    bound = prompt_bound(CHAT, {"model": "m", "messages": [msg]})
    calls = len(json.dumps(msg["tool_calls"], indent=4).encode())
    assert bound == REQUEST_OVERHEAD + MESSAGE_OVERHEAD + len("assistant") + len("bob") + 5 + calls


def test_an_image_counts_its_fixed_bound_whatever_its_url() -> None:
    small = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
    huge = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 1_000_000}}
    for part in (small, huge):
        assert prompt_bound(CHAT, chat([part])) == BASE + IMAGE_TOKENS


def test_a_part_whose_type_is_not_a_string_counts_as_json_and_never_raises() -> None:
    # Found by the schemathesis run (issue 12): `"type": [...]` was looked up in a frozenset -> TypeError -> 500.
    for kind in ([1, 2], {"a": 1}, None, 7):
        part = {"type": kind, "text": "abc"}
        assert prompt_bound(CHAT, chat([part])) == BASE + len(json.dumps(part, indent=4).encode())


def test_tools_and_response_format_count_their_json() -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "description": "Finds a thing in the catalogue",
                                               "parameters": {"type": "object",
                                                              "properties": {"q": {"type": "string"}}}}}]
    schema = {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}}}
    plain = prompt_bound(CHAT, chat("hi"))
    assert prompt_bound(CHAT, chat("hi", tools=tools)) >= plain + len(json.dumps(tools, separators=(",", ":")))
    assert prompt_bound(CHAT, chat("hi", response_format=schema)) >= plain + len(
        json.dumps(schema, separators=(",", ":")))
    # Sampling numbers are never rendered into the prompt.
    assert prompt_bound(CHAT, chat("hi", temperature=0.5, max_tokens=9, seed=3)) == plain


def test_completions_prompts_and_token_arrays() -> None:
    assert prompt_bound(COMPLETIONS, {"model": "m", "prompt": "héllo"}) == REQUEST_OVERHEAD + 6
    assert prompt_bound(COMPLETIONS, {"model": "m", "prompt": ["ab", "cde"]}) == 2 * REQUEST_OVERHEAD + 5
    assert prompt_bound(COMPLETIONS, {"model": "m", "prompt": [1, 2, 3]}) == REQUEST_OVERHEAD + 3
    assert prompt_bound(COMPLETIONS, {"model": "m", "prompt": [[1, 2], [3]]}) == 2 * REQUEST_OVERHEAD + 3


def test_embeddings_inputs() -> None:
    assert prompt_bound(EMBEDDINGS, {"model": "m", "input": ["ab", "c"]}) == REQUEST_OVERHEAD + 2 * MESSAGE_OVERHEAD + 3
    assert prompt_bound(EMBEDDINGS, {"model": "m", "input": [5, 6, 7]}) == REQUEST_OVERHEAD + MESSAGE_OVERHEAD + 3


def test_a_lone_surrogate_counts_and_never_raises() -> None:
    assert prompt_bound(CHAT, chat("a\ud800")) == BASE + 1 + 3


def test_the_completion_bound_is_the_cap_of_every_choice() -> None:
    _, p = parse_body(CHAT, chat("hi"), 256)
    assert (p.max_tokens, p.client_capped, p.completion_bound) == (256, False, 256)
    _, p = parse_body(CHAT, chat("hi", n=3, max_completion_tokens=10), 256)
    assert (p.client_capped, p.completion_bound) == (True, 30)
    _, p = parse_body(COMPLETIONS, {"model": "m", "prompt": ["a", "b"], "max_tokens": 5, "n": 2, "best_of": 3}, 256)
    assert p.completion_bound == 5 * 3 * 2
    assert p.reserve_tokens == p.prompt_bound + 30
    _, p = parse_body(EMBEDDINGS, {"model": "m", "input": "x"}, 256)
    assert p.completion_bound == 0
    with pytest.raises(InvalidRequest):
        parse_body(COMPLETIONS, {"model": "m", "prompt": "a", "best_of": 10**9}, 256)


@pytest.mark.llama
def test_a_real_tokenizer_never_counts_more_than_the_bound(model_path: object) -> None:
    """The bundled model's SentencePiece tokenizer (byte fallback) on arbitrary Unicode, rendered
    with its chat template: never more tokens than the bound reserves."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from llama_cpp import Llama

    llm = Llama(model_path=str(model_path), vocab_only=True, verbose=False)

    @settings(max_examples=300, deadline=None, database=None)
    @given(st.text(max_size=200), st.text(max_size=60))
    def check(user: str, system: str) -> None:
        body = {"model": "m", "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}
        rendered = (f"<start_of_turn>user\n{system}\n\n{user}<end_of_turn>\n<start_of_turn>model\n").encode()
        assert len(llm.tokenize(user.encode(), add_bos=False, special=False)) <= len(user.encode())
        assert len(llm.tokenize(rendered, add_bos=True, special=True)) <= prompt_bound(CHAT, body)

    check()
