"""`peermind setup`'s check that llama.cpp, as built here, runs a model (a crashing build is named once)."""

from __future__ import annotations

from pathlib import Path

import pytest
from peermind.node.llm import _selfcheck, llama_problem, resolve_model


def test_the_installed_build_runs_smollm2() -> None:
    assert llama_problem(resolve_model("smollm2").path) is None


def test_a_build_killed_by_a_signal_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_selfcheck, "_PROBE", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    problem = llama_problem(tmp_path / "model.gguf")
    assert problem is not None
    assert "killed by SIGSEGV" in problem and "make install" in problem


def test_a_file_that_is_no_model_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"not a gguf file")
    problem = llama_problem(bad)
    assert problem is not None and problem.startswith("a 2-token generation failed (exit code 1)")
