"""What a node advertises per model: its strict validator's features, less logprobs where the
backend has none."""

from __future__ import annotations

from shareai.agent.backends.fake import FakeBackend
from shareai.agent.control.node import ENDPOINTS, advertised_features
from shareai.agent.slots import ModelPool
from shareai.coordinator.fleet.registry import model_slots
from shareai.proto.fleet.v1 import fleet_pb2 as pb
from shareai.wire.capabilities import LEGACY_FEATURES, LOGPROBS_ON, node_features


def test_advertised_features_follow_the_validator_and_the_backend() -> None:
    with_lp = advertised_features(ModelPool("a", [FakeBackend()], queue_limit=1))
    without = advertised_features(ModelPool("b", [FakeBackend(supports_logprobs=False)], queue_limit=1))
    assert set(with_lp) == set(without) == set(ENDPOINTS)
    for endpoint in ENDPOINTS:
        assert set(with_lp[endpoint].names) == node_features(endpoint)
        assert set(without[endpoint].names) == node_features(endpoint) - {LOGPROBS_ON}


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
