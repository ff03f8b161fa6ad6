from __future__ import annotations

from pathlib import Path

import pytest

from shareai.agent.config import ConfigError, ModelSpec, load_config, parse_config
from shareai.agent.serve_cmd import apply_flags

TOML = """
[agent]
host = "0.0.0.0"
port = 9001
api_key = "${AGENT_TEST_KEY}"

[[models]]
path = "{model}"
name = "small"
slots = 2
n_ctx = 1024
chat_format = "gemma"

[[models]]
backend = "fake"
name = "fake-1"
queue_limit = 0
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "agent.toml"
    p.write_text(text)
    return p


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    p = tmp_path / "tiny-model.gguf"
    p.write_bytes(b"GGUF")
    return p


def test_toml_layout_and_env(tmp_path: Path, gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_TEST_KEY", "sk-from-env")
    cfg = load_config(write(tmp_path, TOML.replace("{model}", str(gguf)))).validate()
    assert (cfg.host, cfg.port, cfg.api_key) == ("0.0.0.0", 9001, "sk-from-env")
    small, fake = cfg.models
    assert (small.name, small.slots, small.n_ctx, small.chat_format) == ("small", 2, 1024, "gemma")
    assert small.n_gpu_layers is None
    assert (fake.backend, fake.name, fake.queue_limit) == ("fake", "fake-1", 0)
    assert "sk-from-env" not in str(cfg.masked())


def test_flags_win(tmp_path: Path, gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_TEST_KEY", "k")
    cfg = apply_flags(load_config(write(tmp_path, TOML.replace("{model}", str(gguf)))), port=0, slots=3,
                      names=["renamed"])
    assert cfg.port == 0
    assert [m.name for m in cfg.models] == ["renamed", "fake-1"]
    assert all(m.slots == 3 for m in cfg.models)


def test_repeated_model_flags_pair_in_order(gguf: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")
    cfg = apply_flags(load_config(None), models=[str(gguf), str(other)], names=["a"], formats=["chatml"],
                      n_ctx=4096)
    assert [(m.name, m.chat_format, m.n_ctx) for m in cfg.models] == [("a", "chatml", 4096), ("other", None, 4096)]


def test_no_model_means_bundled() -> None:
    cfg = apply_flags(load_config(None))
    assert [(m.path, m.name) for m in cfg.models] == [("bundled", "gemma-3-270m")]


def test_default_name_is_file_stem() -> None:
    assert ModelSpec(path="/m/Qwen2.5-7B-Q4.gguf").name == "Qwen2.5-7B-Q4"


@pytest.mark.parametrize(("text", "message"), [
    ("[agent]\nport = 'x'\n", "agent.port must be int"),
    ("[agent]\nbogus = 1\n", "unknown key(s) ['bogus']"),
    ("[agnet]\n", "unknown key(s) ['agnet']"),
    ("[[models]]\nbackend = 'fake'\nname = 'a'\nslots = 0\n", "slots must be >= 1"),
    ("[[models]]\nbackend = 'tpu'\nname = 'a'\n", "backend must be one of"),
    ("[[models]]\npath = '/nope/missing.gguf'\n", "model file not found"),
    ("[[models]]\nbackend = 'fake'\nname = 'a'\n[[models]]\nbackend = 'fake'\nname = 'a'\n", "duplicate name"),
    ("[agent]\napi_key = '${AGENT_UNSET_VAR_X}'\n", "AGENT_UNSET_VAR_X is not set"),
    ("[agent\n", "invalid TOML"),
])
def test_invalid_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        apply_flags(load_config(write(tmp_path, text)))
    assert message in str(exc.value)


def test_too_many_names_for_models(gguf: Path) -> None:
    with pytest.raises(ConfigError, match="--model-name"):
        apply_flags(load_config(None), models=[str(gguf)], names=["a", "b"])


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(Path("/nonexistent/agent.toml"))


def test_parse_config_rejects_models_not_array() -> None:
    with pytest.raises(ConfigError, match="array of tables"):
        parse_config({"models": {"path": "x"}})


def test_embedding_models_from_the_file_and_the_flag() -> None:
    cfg = parse_config({"models": [{"backend": "fake", "name": "chat"},
                                   {"backend": "fake", "name": "vec", "embeddings": True}]})
    assert [m.embeddings for m in cfg.models] == [False, True]
    assert cfg.validate().masked()["models"][1]["embeddings"] is True
    with pytest.raises(ConfigError, match="embeddings"):
        parse_config({"models": [{"backend": "fake", "name": "x", "embeddings": "yes"}]})
    flagged = apply_flags(parse_config({"models": [{"backend": "fake", "name": "a"}]}), embeddings=True)
    assert flagged.models[0].embeddings
