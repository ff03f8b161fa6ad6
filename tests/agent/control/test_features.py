"""What a node advertises per model: its strict validator's features, less logprobs and tools where
the backend has none; an embedding model advertises the embeddings endpoint only."""

from __future__ import annotations

from shareai.agent.backends.fake import FakeBackend
from shareai.agent.control.node import advertised_features, served_endpoints
from shareai.agent.slots import ModelPool
from shareai.coordinator.fleet.registry import model_slots
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.wire.capabilities import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    LEGACY_FEATURES,
    LOGPROBS_ON,
    TOOL_FEATURES,
    node_features,
)

ENDPOINTS = (CHAT, COMPLETIONS)


def test_advertised_features_follow_the_validator_and_the_backend() -> None:
    with_lp = advertised_features(ModelPool("a", [FakeBackend()], queue_limit=1))
    without = advertised_features(ModelPool("b", [FakeBackend(supports_logprobs=False)], queue_limit=1))
    assert set(with_lp) == set(without) == set(ENDPOINTS)
    for endpoint in ENDPOINTS:
        assert set(with_lp[endpoint].names) == node_features(endpoint)
        assert set(without[endpoint].names) == node_features(endpoint) - {LOGPROBS_ON}
    assert TOOL_FEATURES <= set(with_lp[CHAT].names)


def test_tools_are_advertised_only_for_models_that_call_them() -> None:
    pool = ModelPool("t", [FakeBackend(supports_tools=False)], queue_limit=1)
    features = advertised_features(pool)
    assert TOOL_FEATURES.isdisjoint(features[CHAT].names)
    assert set(features[CHAT].names) == node_features(CHAT) - TOOL_FEATURES


def test_an_embedding_model_advertises_embeddings_only_and_no_dimensions_it_cannot_shorten() -> None:
    pool = ModelPool("e", [FakeBackend(embeddings=True)], queue_limit=1)
    assert served_endpoints(pool) == (EMBEDDINGS,)
    features = advertised_features(pool)
    assert set(features) == {EMBEDDINGS}
    assert set(features[EMBEDDINGS].names) == node_features(EMBEDDINGS) - {"dimensions"}
    slots = model_slots(pb.ModelInfo(name="e", slots=1, endpoints=[EMBEDDINGS], features=features))
    assert set(slots.features) == {EMBEDDINGS}  # the registry keeps the endpoint (it is in the vocabulary)


def test_the_registry_reads_advertised_features_and_assumes_legacy_when_there_are_none() -> None:
    pool = ModelPool("m", [FakeBackend(supports_logprobs=False)], queue_limit=1)
    new = model_slots(pb.ModelInfo(name="m", slots=1, features=advertised_features(pool)))
    assert not new.legacy and LOGPROBS_ON not in new.features["chat.completions"]
    assert new.features["completions"] == node_features("completions") - {LOGPROBS_ON}
    old = model_slots(pb.ModelInfo(name="m", slots=1, endpoints=list(ENDPOINTS)))
    assert old.legacy and old.features == LEGACY_FEATURES


def test_a_hostile_feature_list_is_bounded() -> None:
    names = [f"f{i}" for i in range(10_000)] + ["x" * 5000]
    info = pb.ModelInfo(name="m", features={"chat.completions": pb.FeatureList(names=names),
                                            "not-an-endpoint": pb.FeatureList(names=["tools"])})
    slots = model_slots(info)
    assert set(slots.features) == {"chat.completions"} and len(slots.features["chat.completions"]) == 256
