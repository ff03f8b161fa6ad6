"""Request needs and node features speak one vocabulary, and a node's features come from its
own strict validator."""

from __future__ import annotations

from typing import Any

import pytest

from shareai.wire import capabilities as caps
from shareai.wire.capabilities import (
    CHAT,
    COMPLETIONS,
    LEGACY_FEATURES,
    Need,
    first_unmet,
    node_features,
    request_needs,
)
from shareai.wire.validation import parse_chat_request, parse_completion_request

BASE = {CHAT: {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        COMPLETIONS: {"model": "m", "prompt": "hi"}}
PROBES = {CHAT: caps._CHAT_PROBES, COMPLETIONS: caps._COMPLETION_PROBES}
PARSE = {CHAT: parse_chat_request, COMPLETIONS: parse_completion_request}


def _cases() -> list[tuple[str, str]]:
    return [(endpoint, feature) for endpoint, probes in PROBES.items() for feature in probes]


@pytest.mark.parametrize(("endpoint", "feature"), _cases())
def test_every_probe_is_well_formed_and_needs_exactly_what_it_probes(endpoint: str, feature: str) -> None:
    body = {**BASE[endpoint], **PROBES[endpoint][feature]}
    # The gateway's lenient validation accepts it: a strict refusal is then about node support,
    # never a malformed probe.
    PARSE[endpoint](body, strict=False)
    assert feature in {n.feature for n in request_needs(endpoint, body)}


def test_node_features_are_what_the_strict_validator_accepts_and_old_agents_accepted_the_same() -> None:
    for endpoint in (CHAT, COMPLETIONS):
        features = node_features(endpoint)
        for feature, fragment in PROBES[endpoint].items():
            body = {**BASE[endpoint], **fragment}
            try:
                PARSE[endpoint](body, strict=True)
                accepted = True
            except Exception:
                accepted = False
            assert (feature in features) == accepted, feature
        # LEGACY_FEATURES describes agents released before capabilities (it does not follow the
        # validator): today's validator accepts what they did, plus tool calls on chat.
        assert LEGACY_FEATURES[endpoint] <= features
        assert features - LEGACY_FEATURES[endpoint] == (caps.TOOL_FEATURES if endpoint == CHAT else frozenset())
    chat = node_features(CHAT)
    assert {"functions", "function_call", "logit_bias", caps.N_MANY, "audio", "modalities",
            "content:image_url"}.isdisjoint(chat)
    assert {"temperature", "response_format:json_schema", caps.LOGPROBS_ON, "content:text"} <= chat
    assert caps.TOOL_FEATURES <= chat
    assert {"best_of", "suffix", caps.PROMPT_BATCH, "logit_bias"}.isdisjoint(node_features(COMPLETIONS))
    assert node_features(caps.EMBEDDINGS) == {"model", "input", "encoding_format", "dimensions", "user"}
    assert node_features("audio.speech") == frozenset()


def test_request_needs_read_values_and_name_the_param() -> None:
    body: dict[str, Any] = {
        "model": "m", "n": 3, "logprobs": True, "response_format": {"type": "json_object"},
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a"},
                                                  {"type": "image_url", "image_url": {"url": "u"}}]},
                     {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]}],
        "top_k": 5,
    }
    needs = {n.feature: n for n in request_needs(CHAT, body)}
    assert needs["n:many"] == Need("n:many", "n", "unsupported_value")
    assert needs["logprobs:on"].param == "logprobs"
    assert needs["response_format:json_object"].param == "response_format.type"
    assert needs["content:image_url"].param == "messages[0].content[1].type"
    assert needs["messages:tool"].param == "messages[1]"
    assert needs["top_k"] == Need("top_k", "top_k", "unsupported_parameter")  # unknown: no node advertises it
    assert first_unmet(request_needs(CHAT, body), node_features(CHAT)) == needs["top_k"]  # parameters first
    plain = {"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 1, "logprobs": False,
             "response_format": {"type": "text"}, "tools": None}
    assert [n.feature for n in request_needs(CHAT, plain)] == ["model", "messages", "n", "logprobs",
                                                                "response_format", "tools"]
    assert first_unmet(request_needs(CHAT, plain), node_features(CHAT)) is None  # "tools": null is no tool
    plain["functions"] = None
    assert first_unmet(request_needs(CHAT, plain), node_features(CHAT)) == Need("functions", "functions")
    assert {n.feature for n in request_needs(COMPLETIONS, {"model": "m", "prompt": [1, 2], "logprobs": 0})} >= {
        caps.PROMPT_BATCH, caps.LOGPROBS_ON}
    assert caps.PROMPT_BATCH not in {n.feature for n in request_needs(COMPLETIONS, {"model": "m", "prompt": ["x"]})}
