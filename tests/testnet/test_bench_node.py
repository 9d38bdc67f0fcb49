"""``peermind bench node --idle-learning`` end to end on a real 2-node testnet (one prompt, 2 tokens).

Figures are read by people, not asserted: the command runs with the nodes' idle learning
left on, says so, and writes the memory figures the README quotes with the machine load.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_bench_node_with_idle_learning_reports_memory_and_load(tmp_path: Path) -> None:
    out = tmp_path / "node.json"
    run = subprocess.run(
        [sys.executable, "-m", "peermind.node.cli", "bench", "node", "--idle-learning", "--prompts", "1",
         "--max-tokens", "2", "--idle-s", "0", "--dir", str(tmp_path / "net"), "--out", str(out)],
        capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert re.search(r"idle learning\s*│\s*on\b", run.stdout), run.stdout
    data = json.loads(out.read_text())
    assert data["config"]["idle_learning"] is True
    summary = data["summary"]
    assert set(summary["rss_after_run_mb"]) == set(summary["idle_rss_mb"]) == {"A", "B"}
    assert all(v > 0 for v in summary["rss_after_run_mb"].values())
    assert len(summary["loadavg"]["start"]) == 3
