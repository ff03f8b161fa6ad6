from __future__ import annotations

from pathlib import Path

import pytest

from shareai.coordinator.config import ConfigError, load_config, parse_config

EXAMPLE = """
[routing]
default_policy = "prefer-nodes"

[nodes]
input_per_mtok = 0.01
output_per_mtok = 0.02

[[providers]]
name = "provider-a"
base_url = "http://127.0.0.1:9001/v1/"
api_keys = ["${PROV_A_KEY}", "literal-key"]
timeout_s = 5

[[providers.models]]
name = "gemma-3-270m"
upstream = "gemma"
input_per_mtok = 0.10
output_per_mtok = 0.40
"""


def test_example_config_parses_with_env_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROV_A_KEY", "from-env")
    path = tmp_path / "c.toml"
    path.write_text(EXAMPLE)
    cfg = load_config(path)
    assert cfg.default_policy == "prefer-nodes"
    assert cfg.node_pricing.output_per_mtok == 0.02
    (p,) = cfg.providers
    assert p.base_url == "http://127.0.0.1:9001/v1" and p.api_keys == ["from-env", "literal-key"]
    assert p.timeout_s == 5.0
    model = p.model("gemma-3-270m")
    assert model is not None and model.upstream == "gemma" and model.input_per_mtok == 0.10
    assert "from-env" not in repr(cfg.masked())


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"routing": {"default_policy": "random"}}, "default_policy"),
        ({"providers": [{"name": "x", "base_url": "ftp://h", "models": [{"name": "m"}]}]}, "base_url"),
        ({"providers": [{"name": "node", "base_url": "http://h", "models": [{"name": "m"}]}]}, "reserved"),
        ({"providers": [{"name": "x", "base_url": "http://h"}]}, "models"),
        ({"providers": [{"name": "x", "base_url": "http://h", "api_keys": ["${NOPE_UNSET}"],
                         "models": [{"name": "m"}]}]}, "NOPE_UNSET"),
        ({"fleet": {"patience": "3"}}, "patience"),
        ({"bogus": {}}, "bogus"),
    ],
)
def test_invalid_configs_name_the_key(doc: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_config(doc)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")
