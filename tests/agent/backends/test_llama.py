"""Loading rules of the llama.cpp backend (cheap: a vocab-only model, no generation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shareai.agent.backends.llama import LlamaBackend, ModelLoadError, chat_formats, gpu_layers_for

GiB = 1 << 30


def test_gpu_layers_for() -> None:
    assert gpu_layers_for(free_vram_bytes=80 * GiB, model_bytes=4 * GiB, n_layers=32) == -1
    assert gpu_layers_for(free_vram_bytes=2 * GiB + (512 << 20), model_bytes=4 * GiB, n_layers=32) == 16
    assert gpu_layers_for(free_vram_bytes=256 << 20, model_bytes=4 * GiB, n_layers=32) == 0
    assert gpu_layers_for(free_vram_bytes=0, model_bytes=4 * GiB, n_layers=32) == 0


@pytest.fixture(scope="module")
def vocab_only(model_path: Path) -> object:
    import llama_cpp

    return llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)


@pytest.mark.llama
def test_bundled_model_needs_a_named_chat_format(vocab_only: object) -> None:
    with pytest.raises(ModelLoadError, match="--chat-format"):
        LlamaBackend(vocab_only, chat_format=None)
    with pytest.raises(ModelLoadError, match="unknown chat format 'klingon'"):
        LlamaBackend(vocab_only, chat_format="klingon")
    assert LlamaBackend(vocab_only, chat_format="gemma").chat_format == "gemma"
    assert "gemma" in chat_formats() and "chatml" in chat_formats()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        LlamaBackend.load(tmp_path / "none.gguf", chat_format="gemma", n_ctx=256, n_gpu_layers=0)
