from __future__ import annotations

import pytest

from shareai.agent.backends.base import StopMatcher, token_budget
from shareai.wire.errors import ContextLengthExceeded


def run(stops: list[str], pieces: list[str]) -> tuple[str, bool]:
    m = StopMatcher(stops)
    out = []
    for p in pieces:
        text, hit = m.feed(p)
        out.append(text)
        if hit:
            return "".join(out), True
    return "".join(out) + m.flush(), False


def test_stop_split_across_pieces_is_cut_and_never_sent() -> None:
    assert run(["END"], ["abc E", "N", "D more"]) == ("abc ", True)


def test_partial_match_that_does_not_complete_is_released() -> None:
    m = StopMatcher(["END"])
    assert m.feed("abc EN") == ("abc ", False)
    assert m.feed("X") == ("ENX", False)


def test_earliest_of_several_stops_wins() -> None:
    assert run(["b", "a"], ["xxab"]) == ("xx", True)


def test_held_text_is_flushed_at_the_end() -> None:
    assert run(["STOP"], ["hello ST"]) == ("hello ST", False)


def test_no_stops_passes_through() -> None:
    assert run([], ["a", "b"]) == ("ab", False)


def test_token_budget_caps_max_tokens_at_the_window() -> None:
    assert token_budget(10, None, 100, prompt_param="messages") == 90
    assert token_budget(10, 5, 100, prompt_param="messages") == 5
    assert token_budget(10, 91, 100, prompt_param="messages") == 90  # stops at the window: "length"


@pytest.mark.parametrize("param", ["messages", "prompt"])
def test_a_prompt_that_fills_the_window_names_its_param(param: str) -> None:
    with pytest.raises(ContextLengthExceeded) as exc:
        token_budget(100, None, 100, prompt_param=param)
    assert exc.value.param == param and exc.value.code == "context_length_exceeded"
