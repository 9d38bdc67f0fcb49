"""Config layering (defaults < file < env < flags), validation with named sources, TOML round trip."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from peermind.node.config import (
    LLMConfig,
    NodeConfig,
    config_to_toml,
    default_data_dir,
    describe_fields,
    env_var_name,
    load_config,
)
from peermind.node.errors import ConfigError

PEER = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
BASE_ENV = {"HOME": "/home/alice"}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "peermind.toml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    cfg = load_config(None, env=BASE_ENV)
    assert cfg.data_dir == Path("/home/alice/.local/share/peermind")
    assert cfg.network == "peermind"
    assert cfg.listen == ("/ip4/0.0.0.0/tcp/4001",)
    assert cfg.api == "127.0.0.1:8080" and cfg.api_token is None
    assert cfg.llm == LLMConfig()
    assert cfg.limits.max_frame_bytes == 4 * 1024 * 1024
    assert cfg.ads.cost_per_1k is None and cfg.trust.canary_rate == 0.05


def test_xdg_data_home_moves_the_default_data_dir() -> None:
    assert default_data_dir({"XDG_DATA_HOME": "/xdg", "HOME": "/h"}) == Path("/xdg/peermind")
    # The XDG spec says relative values are to be ignored.
    assert default_data_dir({"XDG_DATA_HOME": "rel", "HOME": "/h"}) == Path(
        "/h/.local/share/peermind"
    )


def test_layers_file_then_env_then_flags(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"""
network = "lab-1"
listen = ["/ip4/127.0.0.1/tcp/0"]
bootstrap = ["/ip4/10.0.0.5/tcp/4001/p2p/{PEER}"]
data_dir = "state"
[llm]
model = "gemma3-270m"
n_threads = 1
[limits]
clock_skew_s = 5
[trust]
pre_trusted = ["{PEER}"]
""",
    )
    from_file = load_config(path, env=BASE_ENV)
    assert from_file.network == "lab-1"
    assert from_file.data_dir == tmp_path.resolve() / "state"  # relative to the file
    assert from_file.llm.model == "gemma3-270m" and from_file.llm.n_threads == 1
    assert from_file.limits.clock_skew_s == 5.0 and isinstance(from_file.limits.clock_skew_s, float)
    assert from_file.trust.pre_trusted == (PEER,)

    env = BASE_ENV | {
        "PEERMIND_NETWORK": "lab-2",
        "PEERMIND_THREADS": "3",
        "PEERMIND_LIMITS__CLOCK_SKEW_S": "7.5",
        "PEERMIND_LISTEN": "/ip4/127.0.0.1/tcp/0, /ip4/127.0.0.1/tcp/5000",
        "PEERMIND_MDNS": "yes",
        "PEERMIND_UNRELATED_TOOL_SETTING": "ignored",
    }
    from_env = load_config(path, env=env)
    assert from_env.network == "lab-2"
    assert from_env.llm.n_threads == 3 and from_env.llm.model == "gemma3-270m"
    assert from_env.limits.clock_skew_s == 7.5
    assert from_env.listen == ("/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/5000")
    assert from_env.mdns is True

    flags = {"network": "lab-3", "llm.model": "smollm2", "listen": ["/ip4/127.0.0.1/tcp/1"]}
    final = load_config(path, env=env, overrides=flags | {"api_token": None})
    assert final.network == "lab-3" and final.llm.model == "smollm2"
    assert final.listen == ("/ip4/127.0.0.1/tcp/1",)
    assert final.llm.n_threads == 3  # untouched layers keep their values
    assert final.api_token is None  # None means "flag not given"


def test_peermind_config_env_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, 'network = "from-env-file"\n')
    assert load_config(None, env=BASE_ENV | {"PEERMIND_CONFIG": str(path)}).network == (
        "from-env-file"
    )
    other = tmp_path / "other.toml"
    other.write_text('network = "explicit"\n')
    explicit = load_config(other, env=BASE_ENV | {"PEERMIND_CONFIG": str(path)})
    assert explicit.network == "explicit"


def test_model_path_in_file_is_relative_to_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, '[llm]\nmodel = "models/tiny.gguf"\n')
    assert load_config(path, env=BASE_ENV).llm.model == str(tmp_path.resolve() / "models/tiny.gguf")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('netwrok = "x"', r"unknown key 'netwrok' \(did you mean 'network'\?\)"),
        ('[llm]\nmodle = "x"', r"unknown key 'llm.modle'"),
        ("[llm.extra]\na = 1", r"unknown key 'llm.extra'"),
        ("llm = 3", r"'llm' must be a \[llm\] table"),
        ('[llm]\nn_threads = "four"', r"key 'llm.n_threads'.*'four'.*whole number"),
        ("[llm]\nn_threads = 0", r"key 'llm.n_threads'.*must be >= 1"),
        ("[llm]\nn_threads = true", r"whole number"),
        ('listen = "/ip4/0.0.0.0/tcp/1"', r"key 'listen'.*list of strings"),
        ('listen = ["/ip4/999.0.0.1/tcp/1"]', r"key 'listen'.*not a valid multiaddr"),
        ("listen = []", r"needs at least one address"),
        ('bootstrap = ["/ip4/10.0.0.5/tcp/4001"]', r"key 'bootstrap'.*must end with /p2p/"),
        ('network = "Bad Name"', r"key 'network'.*a-z, 0-9"),
        ('api = "localhost"', r"key 'api'.*host:port"),
        ('api = "127.0.0.1:70000"', r"port must be a number"),
        ('log_format = "xml"', r"key 'log_format'.*'json', 'text'"),
        ("[trust]\ncanary_rate = 1.5", r"key 'trust.canary_rate'.*between 0.0 and 1.0"),
        ('[trust]\npre_trusted = ["nope"]', r"key 'trust.pre_trusted'.*base58 peer ID"),
        ('[ads]\ntags = ["has,comma"]', r"key 'ads.tags'"),
        ("[ads]\nttl_s = 10\nrepublish_s = 10", r"shorter than ads.ttl_s.*config file"),
        ('[llm]\nmodel = "weights.bin/x"', r"\.gguf"),
        ("this is = not toml", r"not valid TOML"),
    ],
)
def test_bad_file_values_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path, env=BASE_ENV)
    assert str(path) in str(info.value)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env=BASE_ENV)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PEERMIND_THREADS": "many"}, r"environment variable PEERMIND_THREADS.*whole number"),
        ({"PEERMIND_MDNS": "maybe"}, r"environment variable PEERMIND_MDNS.*true or false"),
        ({"PEERMIND_LIMITS__CLOCK_SKEW_S": "nan"}, r"PEERMIND_LIMITS__CLOCK_SKEW_S.*finite"),
        ({"PEERMIND_LIMITS__CLOK_SKEW_S": "1"}, r"PEERMIND_LIMITS__CLOK_SKEW_S: no such setting"),
        (
            {"PEERMIND_MODEL": "a", "PEERMIND_LLM__MODEL": "b"},
            r"PEERMIND_LLM__MODEL and PEERMIND_MODEL both set llm.model",
        ),
        ({"PEERMIND_BOOTSTRAP": "/ip4/1.2.3.4/tcp/1"}, r"PEERMIND_BOOTSTRAP.*/p2p/"),
    ],
)
def test_bad_env_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, env=BASE_ENV | env)


def test_bad_flags_name_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"flag for 'llm.n_ctx'.*whole number"):
        load_config(None, env=BASE_ENV, overrides={"llm.n_ctx": "big"})
    with pytest.raises(ConfigError, match=r"flag for 'llm.nctx'.*unknown setting"):
        load_config(None, env=BASE_ENV, overrides={"llm.nctx": 4})
    # Typed values from argparse and strings both work.
    cfg = load_config(None, env=BASE_ENV, overrides={"llm.n_ctx": "4096", "dht": False})
    assert cfg.llm.n_ctx == 4096 and cfg.dht is False


def test_public_api_needs_a_token_and_the_secret_is_not_echoed() -> None:
    with pytest.raises(ConfigError, match=r"api_token is required.*api from environment variable"):
        load_config(None, env=BASE_ENV | {"PEERMIND_API": "0.0.0.0:8080"})
    with pytest.raises(ConfigError, match=r"PEERMIND_API_TOKEN.*'\*\*\*'") as info:
        load_config(None, env=BASE_ENV | {"PEERMIND_API_TOKEN": "has space"})
    assert "has space" not in str(info.value)
    ok = load_config(
        None, env=BASE_ENV | {"PEERMIND_API": "0.0.0.0:8080", "PEERMIND_API_TOKEN": "s3cret-token"}
    )
    assert ok.api_token == "s3cret-token"
    # Loopback in any spelling needs no token; port 0 is allowed.
    for api in ("localhost:0", "127.0.0.2:9000", "[::1]:8080"):
        assert load_config(None, env=BASE_ENV, overrides={"api": api}).api == api
    # An empty env value unsets an optional setting.
    assert load_config(None, env=BASE_ENV | {"PEERMIND_API_TOKEN": ""}).api_token is None


def test_hand_built_configs_are_validated_too() -> None:
    with pytest.raises(ConfigError, match="n_threads"):
        LLMConfig(n_threads=0)
    with pytest.raises(ConfigError, match="api_token is required"):
        NodeConfig(api="10.0.0.1:8080")
    cfg = NodeConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.network = "x"  # type: ignore[misc]
    with pytest.raises(ConfigError, match="network"):
        dataclasses.replace(cfg, network="UPPER")


def test_toml_round_trip(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        env=BASE_ENV,
        overrides={
            "data_dir": str(tmp_path / 'odd "dir"\tname'),
            "network": "rt",
            "bootstrap": [f"/ip4/10.0.0.5/tcp/4001/p2p/{PEER}"],
            "api": "0.0.0.0:0",
            "api_token": "tok\\en",
            "mdns": True,
            "ads.cost_per_1k": 0.25,
            "ads.tags": ["fast", "cheap"],
            "limits.max_frame_bytes": 65536,
            "trust.pre_trusted": [PEER],
        },
    )
    text = config_to_toml(cfg, redact_secrets=False)
    tomllib.loads(text)  # valid TOML
    path = _write(tmp_path, text)
    assert load_config(path, env=BASE_ENV) == cfg

    shown = config_to_toml(cfg)
    assert "tok\\\\en" not in shown and 'api_token = "***"' in shown
    explained = config_to_toml(NodeConfig(), explain=True)
    assert "# CPU threads llama.cpp may use" in explained
    assert "#   default: 2; environment: PEERMIND_LLM__N_THREADS" in explained
    assert tomllib.loads(explained) == tomllib.loads(config_to_toml(NodeConfig()))
    assert "# api_token = (unset)" in explained


def test_describe_fields_covers_every_setting_with_help() -> None:
    fields = describe_fields()
    keys = [f.key for f in fields]
    assert len(keys) == len(set(keys))
    assert {"data_dir", "api_token", "llm.model", "ads.ttl_s", "limits.clock_skew_s"} <= set(keys)
    assert "trust.pre_trusted" in keys
    for key, type_name, default, help_text in fields:
        assert type_name and default and help_text, key
    by_key = {f.key: f for f in fields}
    assert by_key["llm.n_threads"].type == "int" and by_key["llm.n_threads"].default == "2"
    assert by_key["log_format"].type == "'json' | 'text'"
    assert by_key["api_token"].default == "unset"
    # Every described key can be set from the environment under its documented name.
    assert env_var_name("limits.clock_skew_s") == "PEERMIND_LIMITS__CLOCK_SKEW_S"
    cfg = load_config(None, env=BASE_ENV | {env_var_name("trust.enabled"): "off"})
    assert cfg.trust.enabled is False


def test_the_router_cheap_margin_is_a_setting_with_a_checked_range() -> None:
    """``[router] cheap_margin`` (file, env or ``testnet --set router.cheap_margin=...``) reaches the config; out of range is a typed error."""
    assert load_config(None, env=BASE_ENV).router.cheap_margin == 0.02
    assert load_config(None, env=BASE_ENV | {"PEERMIND_ROUTER__CHEAP_MARGIN": "0.15"}).router.cheap_margin == 0.15
    with pytest.raises(ConfigError, match="PEERMIND_ROUTER__CHEAP_MARGIN"):
        load_config(None, env=BASE_ENV | {"PEERMIND_ROUTER__CHEAP_MARGIN": "1.5"})
