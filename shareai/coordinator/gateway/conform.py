"""Upstream answers brought to OpenAI's response schema where an upstream falls short of it.

    conform_answer(answer)   a complete answer: chat messages get `refusal: null` when they lack it
                             (the schema requires the field); a `system_fingerprint: null` is dropped
                             (the schema types it as a string, optional); True when it changed
    conform_chunk(chunk)     a stream chunk: a `system_fingerprint: null` is dropped

Agents before issue 17 send both shapes; a provider may too. Nothing else is touched: what an
upstream said is passed on as it said it.
"""

from __future__ import annotations

from typing import Any


def conform_answer(answer: dict[str, Any]) -> bool:
    changed = conform_chunk(answer)
    if answer.get("object") != "chat.completion":
        return changed
    choices = answer.get("choices")
    for choice in choices if isinstance(choices, list) else []:
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and "refusal" not in message:
            message["refusal"] = None
            changed = True
    return changed


def conform_chunk(chunk: dict[str, Any]) -> bool:
    if "system_fingerprint" in chunk and chunk["system_fingerprint"] is None:
        del chunk["system_fingerprint"]
        return True
    return False
