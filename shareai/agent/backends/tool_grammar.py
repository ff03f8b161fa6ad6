"""The GBNF grammar that makes a llama.cpp generation follow the node's tool-call syntax.

Built from the request's tools with llama-cpp-python's JSON-schema converter, one alternative per
callable tool, so a generated call always names a declared tool and its arguments always parse
and match that tool's schema (what the converter enforces; `json_schema.unenforced` refuses the
rest with a 400, as for `response_format`)::

    root  ::= calls                    # tool_choice required / named
    root  ::= calls | text             # tool_choice auto: a call, or text that does not start with "<"
    calls ::= call ("\\n" call)*        # parallel_tool_calls (default), else just `call`
    call  ::= "<tool_call>\\n" (fn-0 | fn-1 | ...) "\\n</tool_call>"
    fn-0  ::= "{\\"name\\": \\"get_weather\\", \\"arguments\\": " tool-0-args "}"

Each tool's `$defs` are renamed apart first, since the converter names a rule after the last part
of a `$ref` and two tools may both define, say, `#/$defs/Location`.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from shareai.agent.backends.json_schema import unenforced
from shareai.agent.toolcalls import CALL_CLOSE, CALL_OPEN, CALL_SEPARATOR
from shareai.wire.errors import InvalidRequest
from shareai.wire.validation import ResponseFormat, Tools

_DEF_KEYS = ("$defs", "definitions")


def _renamed(schema: Any, prefix: str) -> Any:
    """`schema` with its `$defs`/`definitions` keys (and the local `$ref`s to them) prefixed."""
    if isinstance(schema, list):
        return [_renamed(v, prefix) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DEF_KEYS and isinstance(value, dict):
            out[key] = {f"{prefix}{k}": _renamed(v, prefix) for k, v in value.items()}
        elif key == "$ref" and isinstance(value, str):
            parts = value.split("/")
            if len(parts) >= 3 and parts[0] == "#" and parts[1] in _DEF_KEYS:
                parts[2] = prefix + parts[2]
            out[key] = "/".join(parts)
        else:
            out[key] = _renamed(value, prefix)
    return out


def tool_grammar(tools: Tools, response_format: ResponseFormat | None = None) -> str:
    """The grammar text for `tools` (which must be active). Under `auto`, a `response_format`
    constrains the text alternative (the answer when the model calls nothing)."""
    from llama_cpp.llama_grammar import SchemaConverter

    conv = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    alternatives = []
    for i, tool in enumerate(tools.tools):
        if tool not in tools.callable():
            continue
        param = f"tools[{i}].function.parameters"
        found = unenforced(tool.parameters)
        if found:
            keyword, where = found
            raise InvalidRequest(
                f"The parameters schema of tool '{tool.name}' uses '{keyword}' (at '{where or '/'}'), which this "
                "node cannot enforce; remove it or describe the constraint in the description.",
                param=param, code="unsupported_value")
        try:
            schema = conv.resolve_refs(_renamed(copy.deepcopy(tool.parameters), f"t{i}-"), f"tool{i}")
            args = conv.visit(schema, f"tool-{i}-args")
        except Exception as exc:  # the converter raises bare Exceptions on schemas it cannot express
            raise InvalidRequest(f"The parameters schema of tool '{tool.name}' cannot be turned into a grammar: "
                                 f"{exc}", param=param, code="invalid_value") from None
        head = conv._format_literal(f'{{"name": {json.dumps(tool.name)}, "arguments": ')
        alternatives.append(f"{head} {args} {conv._format_literal('}')}")
    body = conv.format_grammar()
    call = f"{conv._format_literal(CALL_OPEN)} ( {' | '.join(alternatives)} ) {conv._format_literal(CALL_CLOSE)}"
    calls = f"tc-call ( {conv._format_literal(CALL_SEPARATOR)} tc-call )*" if tools.parallel else "tc-call"
    lines = [body, f"tc-call ::= {call}", f"tc-calls ::= {calls}"]
    if tools.mode == "auto":
        lines.append(f"tc-text ::= {_text_rule(conv, response_format)}")
        lines.append("root ::= tc-calls | tc-text")
    else:
        lines.append("root ::= tc-calls")
    # The converter's own `root` (unused: we visited named rules only) would clash with ours.
    return "\n".join(line for line in "\n".join(lines).splitlines() if not line.startswith("root ::= ")
                     or line.startswith("root ::= tc-"))


def _text_rule(conv: Any, response_format: ResponseFormat | None) -> str:
    if response_format is None:
        return '( [^<] [^\\x00]* )?'  # any text that cannot be the start of a call
    schema = response_format.schema if response_format.type == "json_schema" and response_format.schema else {}
    found = unenforced(schema)
    if found:
        keyword, where = found
        raise InvalidRequest(
            f"The JSON schema uses '{keyword}' (at '{where or '/'}'), which this node cannot enforce; "
            "remove it or describe the constraint in the prompt.",
            param="response_format.json_schema.schema", code="unsupported_value")
    try:
        rule: str = conv.visit(conv.resolve_refs(copy.deepcopy(schema), "answer"), "tc-answer")
    except Exception as exc:
        raise InvalidRequest(f"The JSON schema cannot be turned into a grammar: {exc}",
                             param="response_format.json_schema.schema", code="invalid_value") from None
    return rule
