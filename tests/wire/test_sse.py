from __future__ import annotations

from collections.abc import AsyncIterator

from shareai.wire.errors import UpstreamFailed
from shareai.wire.sse import DONE, SSEParser, error_frame, frame, iter_events


def test_frame_round_trip_under_any_chunking() -> None:
    stream = frame({"a": 1}) + b": keep-alive\n\n" + frame("x") + b"event: e\ndata: l1\ndata: l2\n\n" + DONE
    for size in (1, 2, 3, 7, len(stream)):
        parser = SSEParser()
        events: list[str] = []
        for i in range(0, len(stream), size):
            events.extend(parser.feed(stream[i : i + size]))
        events.extend(parser.close())
        assert events == ['{"a":1}', "x", "l1\nl2", "[DONE]"], size


def test_crlf_and_missing_trailing_blank_line() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r\n\r\ndata: b") == ["a"]
    assert parser.close() == ["b"]


def test_error_frame_is_openai_shaped() -> None:
    assert error_frame(UpstreamFailed("boom")).startswith(b'data: {"error":{"message":"boom"')


async def test_iter_events() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: 1\n"
        yield b"\ndata: [DONE]\n\n"

    assert [e async for e in iter_events(chunks())] == ["1", "[DONE]"]
