"""The node's tool-call syntax: rendering tools into a prompt, and reading calls back out of text that
arrives in arbitrary pieces."""

from __future__ import annotations

import itertools
import json

import pytest

from shareai.agent.backends.fake import example_value
from shareai.agent.toolcalls import (
    CallArguments,
    CallStart,
    ParsedPiece,
    TextPiece,
    ToolCallParser,
    call_text,
    render_messages,
)
from shareai.wire.validation import ChatMessage, Tool, ToolCall, Tools

WEATHER = Tool("get_weather", "Weather in a city", {"type": "object", "properties": {"city": {"type": "string"}},
                                                    "required": ["city"]})
TWO_CALLS = (call_text("get_weather", '{"city": "Paris {x}", "n": [1, {"a": "}"}]}') + "\n"
             + call_text("get_time", '{"tz": "Europe/Paris"}'))


def _ids() -> itertools.count[int]:
    return itertools.count()


def _parse(pieces: list[str]) -> tuple[list[ParsedPiece], ToolCallParser]:
    counter = _ids()
    parser = ToolCallParser(new_id=lambda: f"call_{next(counter)}")
    out: list[ParsedPiece] = []
    for p in pieces:
        out += parser.feed(p)
    out += parser.close()
    return out, parser


def _summary(out: list[ParsedPiece]) -> tuple[str, list[tuple[str, str, str]]]:
    text = "".join(p.text for p in out if isinstance(p, TextPiece))
    calls: list[tuple[str, str, str]] = []
    for p in out:
        if isinstance(p, CallStart):
            assert p.index == len(calls)
            calls.append((p.id, p.name, ""))
        elif isinstance(p, CallArguments):
            cid, name, args = calls[p.index]
            calls[p.index] = (cid, name, args + p.fragment)
    return text, calls


def test_calls_come_out_whole_and_with_their_arguments_exactly() -> None:
    out, parser = _parse([TWO_CALLS])
    text, calls = _summary(out)
    assert text == ""
    assert [(n, json.loads(a)) for _, n, a in calls] == [
        ("get_weather", {"city": "Paris {x}", "n": [1, {"a": "}"}]}), ("get_time", {"tz": "Europe/Paris"})]
    assert parser.calls == [ToolCall(i, n, a) for i, n, a in calls]
    assert [c.id for c in parser.calls] == ["call_0", "call_1"]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13])
def test_any_split_of_the_text_parses_the_same(size: int) -> None:
    pieces = [TWO_CALLS[i:i + size] for i in range(0, len(TWO_CALLS), size)]
    assert _summary(_parse(pieces)[0]) == _summary(_parse([TWO_CALLS])[0])
    # The name is announced before any argument, in a piece of its own.
    out = _parse(pieces)[0]
    assert isinstance(next(p for p in out if not isinstance(p, TextPiece)), CallStart)


@pytest.mark.parametrize("reply", ["Hello there.", "<b>bold</b> text", "<tool", "  spaced", "1 < 2"])
def test_plain_text_is_text(reply: str) -> None:
    for size in (1, 3, len(reply)):
        out, parser = _parse([reply[i:i + size] for i in range(0, len(reply), size)])
        assert _summary(out) == (reply, []) and not parser.called


def test_text_that_cannot_start_a_call_is_passed_on_at_once() -> None:
    parser = ToolCallParser()
    assert parser.feed("Sure") == [TextPiece("Sure")]
    assert parser.feed("<tool") == [TextPiece("<tool")]  # once text, always text
    fresh = ToolCallParser()
    assert fresh.feed("<tool") == []  # might still become a call: held back
    assert fresh.close() == [TextPiece("<tool")]


def test_a_call_cut_short_keeps_what_was_generated() -> None:
    cut = TWO_CALLS[:70]
    _, parser = _parse([cut])
    assert [c.name for c in parser.calls] == ["get_weather"]
    assert parser.calls[0].arguments == '{"city": "Paris {x}",'  # what there was: a length cut


def test_render_messages_puts_tools_calls_and_results_into_plain_turns() -> None:
    tools = Tools((WEATHER,), mode="auto")
    msgs = [ChatMessage("system", "Be brief."), ChatMessage("user", "Weather in Paris?"),
            ChatMessage("assistant", "", tool_calls=[ToolCall("call_1", "get_weather", '{"city": "Paris"}')]),
            ChatMessage("tool", "18C and sunny", tool_call_id="call_1")]
    out = render_messages(msgs, tools)
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert out[0]["content"].startswith("Be brief.") and '"name": "get_weather"' in out[0]["content"]
    assert out[2]["content"] == call_text("get_weather", '{"city": "Paris"}')
    assert "18C and sunny" in out[3]["content"] and "call_1" in out[3]["content"]
    assert out[3]["content"].startswith("<tool_response>")
    # tool_choice none: no tool instructions at all, the history is still rendered
    none = render_messages(msgs, Tools((WEATHER,), mode="none"))
    assert none[0] == {"role": "system", "content": "Be brief."}


def test_example_value_satisfies_common_schemas() -> None:
    schema = {"type": "object", "required": ["a", "b", "c", "d"], "properties": {
        "a": {"type": "string", "minLength": 3}, "b": {"enum": ["x", "y"]}, "c": {"$ref": "#/$defs/C"},
        "d": {"type": "array", "items": {"type": "integer"}, "minItems": 2}, "e": {"type": "boolean"}},
        "$defs": {"C": {"type": ["null", "number"]}}}
    assert example_value(schema) == {"a": "xxx", "b": "x", "c": 1, "d": [1, 1]}
