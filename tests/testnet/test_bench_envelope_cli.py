"""`peermind bench envelope --out FILE` as the README prints it: the file holds the rates and the machine load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PEERMIND = Path(sys.executable).with_name("peermind")


def test_results_file_keeps_the_load_beside_the_rates(tmp_path: Path) -> None:
    out = tmp_path / "envelope.json"
    done = subprocess.run([str(PEERMIND), "bench", "envelope", "--seconds", "0.2", "--out", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "machine load (1/5/15 min) at start" in done.stdout
    data = json.loads(out.read_text())
    assert data["ratio"] > 0 and data["raw_sign_verify_per_s"] > 0
    assert len(data["loadavg"]["start"]) == 3 and len(data["loadavg"]["end"]) == 3
    assert data["cpus"] >= 1
