"""The node's tool-call syntax: how tools reach the prompt and how calls come back out of the text.

A model that calls tools writes each call as one block (the Hermes/Qwen convention, which many
GGUF chat templates already use)::

    <tool_call>
    {"name": "get_weather", "arguments": {"city": "Paris"}}
    </tool_call>

several blocks one after the other (separated by a newline) when parallel calls are allowed. The
llama.cpp backend constrains generation with a grammar of exactly this shape (`tool_grammar.py`),
so the name is always one of the request's tools and the arguments always parse and match the
tool's schema; the light backend writes the same text. `ToolCallParser` turns the generated text,
as it streams, into plain text or calls: a reply is either text (it cannot start with `<`, which
the grammar enforces under `tool_choice: auto`) or calls only.

For chat formats without their own tool rendering (the bundled Gemma's), `render_messages` puts
the tools into the prompt: a system message describing the syntax and each tool's JSON schema,
earlier calls as the assistant's `<tool_call>` text, and tool results as user turns wrapped in
`<tool_response>` (named with the call's id). A GGUF template that renders `tools` itself gets
them, and the messages in OpenAI's shape, instead (the llama.cpp backend decides).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from shareai.wire.validation import ChatMessage, ToolCall, Tools

CALL_OPEN = "<tool_call>\n"
CALL_CLOSE = "\n</tool_call>"
CALL_SEPARATOR = "\n"


def call_text(name: str, arguments: str) -> str:
    """One call in the node's syntax (`arguments`: JSON text)."""
    return f'{CALL_OPEN}{{"name": {json.dumps(name)}, "arguments": {arguments}}}{CALL_CLOSE}'


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


def tools_prompt(tools: Tools) -> str:
    """The system text that tells a model without native tool support which tools it has and how
    to call them (under the grammar it cannot get the syntax wrong, but it must know the tools)."""
    specs = "\n".join(
        json.dumps({"name": t.name, "description": t.description, "parameters": t.parameters})
        for t in tools.callable()
    )
    if tools.mode == "auto":
        when = "If a function helps to answer, call it; otherwise answer the user directly in plain text."
    elif tools.mode == "function":
        when = f"You must call the function {tools.name}."
    else:
        when = "You must call one or more of these functions."
    how = ("To call a function, reply with a block like this and nothing else:\n"
           f'{CALL_OPEN}{{"name": "<function name>", "arguments": {{<arguments as JSON>}}}}{CALL_CLOSE}')
    if tools.parallel:
        how += "\nYou may write several such blocks, one per line, to call several functions."
    return (f"You can call these functions (JSON schema of each one's arguments):\n{specs}\n{how}\n{when}\n"
            "The results come back in <tool_response> blocks.")


def render_messages(messages: list[ChatMessage], tools: Tools | None) -> list[dict[str, Any]]:
    """The conversation as plain role/content messages, tools rendered in text (see the module doc)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role = "system" if m.role == "developer" else m.role
        if role == "assistant" and m.tool_calls:
            calls = CALL_SEPARATOR.join(call_text(c.name, c.arguments) for c in m.tool_calls)
            out.append({"role": "assistant", "content": f"{m.content}\n{calls}" if m.content else calls})
        elif role in ("tool", "function"):  # "function": the legacy result message, named by its function
            ref = {"tool_call_id": m.tool_call_id} if role == "tool" else {"name": m.name}
            out.append({"role": "user",
                        "content": f"<tool_response>\n{json.dumps(ref)}\n{m.content}\n</tool_response>"})
        else:
            out.append({"role": role, "content": m.content})
    if tools is not None and tools.active:
        prompt = tools_prompt(tools)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{prompt}"}
        else:
            out.insert(0, {"role": "system", "content": prompt})
    return out


def openai_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """The conversation in OpenAI's shape, for chat templates that render tool calls themselves."""
    out: list[dict[str, Any]] = []
    for m in messages:
        msg: dict[str, Any] = {"role": "system" if m.role == "developer" else m.role, "content": m.content}
        if m.tool_calls:
            msg["tool_calls"] = [{"id": c.id, "type": "function",
                                  "function": {"name": c.name, "arguments": _arguments_value(c.arguments)}}
                                 for c in m.tool_calls]
        if m.tool_call_id is not None:
            msg["tool_call_id"] = m.tool_call_id
        if m.name is not None:
            msg["name"] = m.name
        out.append(msg)
    return out


def _arguments_value(arguments: str) -> Any:
    # Templates index into arguments (`tool_call.arguments | tojson`, `.items()`): give them the object.
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def openai_tools(tools: Tools) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.parameters}} for t in tools.callable()]


# -- reading calls back out of the generated text -----------------------------------------------------


@dataclass(slots=True, frozen=True)
class TextPiece:
    text: str


@dataclass(slots=True, frozen=True)
class CallStart:
    index: int
    id: str
    name: str


@dataclass(slots=True, frozen=True)
class CallArguments:
    index: int
    fragment: str


ParsedPiece = TextPiece | CallStart | CallArguments

_HEAD = re.compile(r'\s*<tool_call>\s*\{\s*"name"\s*:\s*"([^"\\]*)"\s*,\s*"arguments"\s*:\s*')
_TAIL = re.compile(r"\s*\}\s*</tool_call>")
_OPEN = CALL_OPEN.rstrip("\n")


class ToolCallParser:
    """Splits generated text into text and tool calls, incrementally (`feed` each piece as it is
    generated, `close` at the end). A call's arguments come out as they are generated, so a stream
    can pass them on at once; the whole calls are in `calls` once parsed.

    Before the first call the parser holds back at most the length of `<tool_call>`: text that
    cannot start a call is passed on at once.
    """

    def __init__(self, *, new_id: Any = new_call_id) -> None:
        self._new_id = new_id
        self._buf = ""
        self._mode = "undecided"  # undecided | text | head | args | tail
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self._started = False  # the arguments' opening bracket was seen
        self.calls: list[ToolCall] = []
        self._args: list[str] = []

    @property
    def called(self) -> bool:
        return bool(self.calls)

    def feed(self, text: str) -> list[ParsedPiece]:
        self._buf += text
        out: list[ParsedPiece] = []
        while self._buf:
            if self._mode == "undecided":
                stripped = self._buf.lstrip()
                if stripped.startswith(_OPEN):
                    self._mode = "head"
                elif _OPEN.startswith(stripped):
                    break  # could still become a call
                else:
                    self._mode = "text"
            elif self._mode == "text":
                out.append(TextPiece(self._buf))
                self._buf = ""
            elif self._mode == "head":
                m = _HEAD.match(self._buf)
                if m is None:
                    break
                self._buf = self._buf[m.end():]
                call_id = self._new_id()
                self.calls.append(ToolCall(call_id, m.group(1), ""))
                self._args = []
                out.append(CallStart(len(self.calls) - 1, call_id, m.group(1)))
                self._mode = "args"
                self._depth, self._started, self._in_string, self._escaped = 0, False, False, False
            elif self._mode == "args":
                if not self._started:  # the space before the value is syntax, not arguments
                    self._buf = self._buf.lstrip()
                    if not self._buf:
                        break
                end = self._scan_arguments()
                piece = self._buf[:end]
                self._buf = self._buf[end:]
                if piece:
                    self._args.append(piece)
                    out.append(CallArguments(len(self.calls) - 1, piece))
                    last = self.calls[-1]
                    self.calls[-1] = ToolCall(last.id, last.name, "".join(self._args))
                if self._depth == 0 and self._started:
                    self._mode = "tail"
                elif not self._buf:
                    break
            else:  # tail: the closing `}` and `</tool_call>`, then maybe the next call
                m = _TAIL.match(self._buf)
                if m is None:
                    break
                self._buf = self._buf[m.end():]
                self._mode = "head"  # the next call, if any
        return out

    def _scan_arguments(self) -> int:
        """How much of the buffer belongs to the arguments' JSON value (tracking nesting and
        strings); stops right after the value's closing bracket."""
        for i, ch in enumerate(self._buf):
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif ch == "\\":
                    self._escaped = True
                elif ch == '"':
                    self._in_string = False
                continue
            if ch == '"':
                self._in_string = True
            elif ch in "{[":
                self._depth += 1
                self._started = True
            elif ch in "}]":
                self._depth -= 1
                if self._depth == 0:
                    return i + 1
        return len(self._buf)

    def close(self) -> list[ParsedPiece]:
        """What is left at the end: held-back text that never became a call."""
        if self._mode in ("undecided", "text") and self._buf:
            rest, self._buf = self._buf, ""
            return [TextPiece(rest)]
        return []
