"""Server-sent events as OpenAI streams them: `data: <json>\\n\\n` frames ending in `data: [DONE]`.

Servers encode with `frame()` / `DONE`; clients of upstreams parse with `SSEParser`, which accepts
arbitrary byte chunking (a frame may arrive split over several network reads).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from shareai.wire import jsonc
from shareai.wire.errors import OpenAIError

DONE = b"data: [DONE]\n\n"
DONE_PAYLOAD = "[DONE]"

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


def frame(payload: dict[str, Any] | str) -> bytes:
    """One `data:` frame; dicts are JSON-encoded compactly (UTF-8, through `jsonc`)."""
    data = payload.encode() if isinstance(payload, str) else jsonc.dumps_bytes(payload)
    return b"data: " + data + b"\n\n"


def error_frame(err: OpenAIError) -> bytes:
    """The frame sent when a stream fails after it started (the status line is already gone)."""
    return b"data: " + err.body_bytes() + b"\n\n"


class SSEParser:
    """Incremental parser: feed bytes, get the `data` payloads of complete events.

    Comment lines (`: ping`) and fields other than `data` are ignored; multi-line data is joined
    with newlines, as the SSE spec says.
    """

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        self._buf += chunk
        events: list[str] = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                break
            raw = self._buf[:nl]
            self._buf = self._buf[nl + 1 :]
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
            if line == "":
                if self._data:
                    events.append("\n".join(self._data))
                    self._data = []
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "data":
                self._data.append(value)
        return events

    def close(self) -> list[str]:
        """Flush a final event that had no trailing blank line."""
        events = self.feed(b"\n\n") if self._buf or self._data else []
        return events


async def iter_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The `data` payloads of an SSE byte stream, `[DONE]` included."""
    parser = SSEParser()
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
    for event in parser.close():
        yield event
