from __future__ import annotations

import threading

import pytest

from shareai.agent.backends.base import Delta, Event, Finish, GenParams
from shareai.agent.backends.fake import FakeBackend
from shareai.wire.errors import ContextLengthExceeded
from shareai.wire.validation import ChatMessage

MSG = [ChatMessage("user", "hi there")]


def drain(events: list[Event]) -> tuple[str, Finish]:
    *deltas, finish = events
    assert isinstance(finish, Finish)
    assert all(isinstance(d, Delta) for d in deltas)
    return "".join(d.text for d in deltas if isinstance(d, Delta)), finish


def test_whole_reply_ends_with_stop_and_counts_tokens() -> None:
    b = FakeBackend(reply="one two three")
    text, fin = drain(list(b.chat(MSG, GenParams(), threading.Event())))
    assert text == "one two three"
    assert fin.reason == "stop"
    assert fin.usage.completion_tokens == 3 and fin.usage.prompt_tokens > 0


def test_max_tokens_gives_length() -> None:
    b = FakeBackend(reply="one two three")
    text, fin = drain(list(b.complete("x", GenParams(max_tokens=2), threading.Event())))
    assert (text, fin.reason, fin.usage.completion_tokens) == ("one two", "length", 2)


def test_stop_sequence_cuts_text() -> None:
    b = FakeBackend(reply="one two three four")
    text, fin = drain(list(b.complete("x", GenParams(stop=[" thr"]), threading.Event())))
    assert (text, fin.reason) == ("one two", "stop")


def test_cancel_stops_between_tokens() -> None:
    b = FakeBackend(reply="a b c d e f", repeat=True)
    cancel = threading.Event()
    events = []
    for ev in b.complete("x", GenParams(), cancel):
        events.append(ev)
        if len(events) == 2:
            cancel.set()
    _text, fin = drain(events)
    assert fin.reason == "cancelled"
    assert fin.usage.completion_tokens == 2


def test_context_window_checked_before_any_text() -> None:
    b = FakeBackend(n_ctx=4)
    with pytest.raises(ContextLengthExceeded):
        next(b.complete("a b c d e", GenParams(), threading.Event()))
