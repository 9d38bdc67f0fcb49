"""The benchmark runs and reports sane figures (performance itself is not asserted)."""

from __future__ import annotations

import pytest
from peermind.protocol.benchmark import main, run_envelope_benchmark, typical_request


def test_benchmark_reports_every_figure() -> None:
    result = run_envelope_benchmark(seconds=0.2)
    for key in ("seal_per_s", "open_per_s", "raw_sign_per_s", "raw_verify_per_s",
                "envelope_sign_verify_per_s", "raw_sign_verify_per_s", "ratio"):
        assert result[key] > 0, key
    assert result["envelope_sign_verify_per_s"] == pytest.approx(
        1 / (1 / result["seal_per_s"] + 1 / result["open_per_s"]))
    assert 400 < result["envelope_bytes"] < 1000
    assert 250 <= result["prompt_chars"] <= 350


def test_typical_request_has_a_300_char_prompt() -> None:
    assert 250 <= len(typical_request().messages[0].content) <= 350


def test_cli_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--seconds", "0.1"])
    out = capsys.readouterr().out
    assert "ratio" in out and "envelope open" in out and "bytes" in out
