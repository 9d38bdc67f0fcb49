"""``peermind bench identity``: the price of one identity, measured (tiny settings here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from peermind.trust import ProofOfWork
from peermind.trust.identity_cost import format_markdown, measure_identity_cost


def test_cost_grows_with_difficulty_against_a_bare_key_baseline() -> None:
    result = measure_identity_cost([2, 10], 6, keygen_n=50, extrapolate=(20,))
    low, high = result.rows
    assert (low.bits, high.bits, low.n) == (2, 10, 6)
    assert high.hashes_mean > low.hashes_mean >= 1
    assert result.keygen_cpu_s > 0 and result.hashes_per_cpu_s > 0
    assert result.extrapolated[20] > result.keygen_cpu_s
    text = format_markdown(result, "peermind bench identity --bits 2,10 --n 6")
    assert "| 10 | 6 |" in text and "load average" in text and "95% CI" in text


def test_a_solved_identity_passes_the_networks_check() -> None:
    pow_ = ProofOfWork("peermind", 6)
    peer = "12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB"
    assert pow_.verify(peer, pow_.solve(peer))


def test_the_bench_identity_command_writes_its_results(tmp_path: Path) -> None:
    out = tmp_path / "identity-cost.json"
    run = subprocess.run([sys.executable, "-m", "peermind.node.cli", "bench", "identity", "--bits", "4,6", "--n", "3",
                          "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert [r["bits"] for r in data["rows"]] == [4, 6] and data["keygen_cpu_s"] > 0
    assert out.with_suffix(".md").read_text() in run.stdout + "\n"
    assert "peermind bench identity --bits 4,6 --n 3" in run.stdout
