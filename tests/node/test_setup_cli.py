"""`peermind setup` as scripts/setup.sh (so `make demo` and `make test`) runs it: offline, idempotent.

The models come from installed packages and the benchmark data from a pip wheel, so on a
machine that installed peermind this runs without a network and, once prepared, in seconds.
It uses the real cache (PEERMIND_CACHE or ~/.cache/peermind), as a user's run does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PEERMIND = Path(sys.executable).with_name("peermind")


def test_setup_prepares_models_data_and_embedder() -> None:
    done = subprocess.run([str(PEERMIND), "setup"], capture_output=True, text=True, timeout=600, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "Traceback" not in out
    for model in ("smollm2", "gemma3-270m"):
        assert f"model {model}: done" in out, out[-3000:]
    assert "evaluation data ready in" in out
    assert "embedding model: ready on onnx" in out  # torch stays out of the daemon (README: Two commands)
    cache = Path(os.environ.get("PEERMIND_CACHE") or Path.home() / ".cache" / "peermind")
    timings = json.loads((cache / "setup-timings.json").read_text())
    assert {"model:smollm2", "model:gemma3-270m", "data", "embedder"} <= set(timings)
    assert all(seconds >= 0 for seconds in timings.values())
