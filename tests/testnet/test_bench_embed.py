"""``peermind bench embed`` end to end: the fp32 MiniLM graph against its int8 copy on real prompts.

Figures are read by people, not asserted: the command runs, writes the JSON and the Markdown
beside it with the machine load, and refuses a size it cannot measure in one line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "peermind.node.cli", "bench", "embed", *args],
                          capture_output=True, text=True, timeout=300)


def test_bench_embed_writes_both_graphs_figures_with_the_load(tmp_path: Path) -> None:
    out = tmp_path / "embed.json"
    run = _bench("--texts", "8", "--out", str(out))
    assert run.returncode == 0, run.stderr[-2000:]
    assert "int8 / fp32, per-text p50" in run.stdout
    data = json.loads(out.read_text())
    figures = data["embed"]
    assert figures["n"] == 8
    assert figures["fp32_ms_p50"] > 0 and figures["int8_ms_p50"] > 0
    assert -1.0 <= figures["cosine_min"] <= figures["cosine_p50"] <= 1.0
    assert 0.0 <= figures["nearest_neighbour_kept"] <= 1.0
    assert len(data["loadavg"]["start"]) == 3
    assert out.with_suffix(".md").read_text().startswith("# MiniLM forward pass")


def test_bench_embed_refuses_too_few_texts_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "embed.json"
    run = _bench("--texts", "1", "--out", str(out))
    assert run.returncode != 0
    assert "--texts must be at least 2" in run.stderr and "Traceback" not in run.stderr
    assert not out.exists()
