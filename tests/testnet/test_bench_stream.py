"""``peermind bench stream`` end to end on a real 2-node testnet (one prompt, a short answer).

Only what the command reports is checked (figures are read by people, not asserted): it
runs, every streamed answer came in several chunks from B, and the JSON holds the figures
the README quotes, with the machine load next to them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_bench_stream_reports_ttft_figures_with_the_load(tmp_path: Path) -> None:
    out = tmp_path / "stream.json"
    run = subprocess.run(
        [sys.executable, "-m", "peermind.node.cli", "bench", "stream", "--prompts", "2", "--max-tokens", "16",
         "--dir", str(tmp_path / "net"), "--out", str(out)],
        capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "TTFT through A -> B" in run.stdout and "machine load" in run.stdout
    data = json.loads(out.read_text())
    summary, raw = data["summary"], data["raw"]
    assert len(raw["network"]) == len(raw["direct"]) == 2
    assert all(t["pieces"] > 1 and 0 < t["ttft_ms"] < t["total_ms"] for t in raw["network"])
    assert {"ttft_ratio_p50", "ttft_share_of_total_p50_pct", "ttft_goal_met_p50"} <= set(summary)
    assert len(data["machine"]["loadavg"]["start"]) == 3
