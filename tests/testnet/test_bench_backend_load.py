"""``peermind bench backend`` and ``peermind bench load`` end to end, at their smallest.

Figures are read by people, not asserted: each command runs as a user types it, and its
JSON holds what the README quotes (ratios against the in-run baseline, n, the load).
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
from proc_helpers import peermind as run_peermind

pytestmark = pytest.mark.integration


peermind = partial(run_peermind, timeout_s=600)  # a bench run loads a model per round


def test_bench_backend_pairs_the_backend_with_a_bare_llama(tmp_path: Path) -> None:
    out = tmp_path / "backend.json"
    run = peermind("bench", "backend", "--prompts", "2", "--rounds", "1", "--max-tokens", "4", "--out", str(out))
    assert run.returncode == 0, run.stderr[-2000:]
    assert "LlamaBackend vs a bare create_chat_completion" in run.stdout and "Machine load" in run.stdout
    data = json.loads(out.read_text())
    summary = data["summary"]
    assert summary["pairs"] == 2 and len(data["raw"]["identical"]) == 2
    assert summary["ratio_p50"] > 0 and len(summary["ratio_p50_ci95"]) == 2
    assert len(summary["loadavg"]["start"]) == 3 and out.with_suffix(".md").exists()


def test_bench_load_drives_a_light_entry_node_and_reports_throughput(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    run = peermind("bench", "load", "--peers", "1", "--clients-per-peer", "1", "--seconds", "2",
                   "--max-tokens", "2", "--dir", str(tmp_path / "nets"), "--out", str(out))
    assert run.returncode == 0, run.stderr[-2000:]
    (phase,) = json.loads(out.read_text())["summary"]["phases"]
    assert phase["peers"] == 1 and phase["answers"] >= 1 and phase["errors"] == 0
    assert phase["throughput_per_s"] > 0 and phase["efficiency"] == 1.0
    assert "load average" in phase["load_before"] and len(phase["answers_per_peer"]) == 1


def test_bench_load_refuses_bad_peer_counts_in_one_line(tmp_path: Path) -> None:
    run = peermind("bench", "load", "--peers", "0,x", "--out", str(tmp_path / "x.json"))
    assert run.returncode != 0
    assert "--peers" in run.stderr and "Traceback" not in run.stderr
