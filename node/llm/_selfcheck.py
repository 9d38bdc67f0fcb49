"""Whether llama.cpp, as built on this machine, can run a model at all.

A llama.cpp build can load a model and still die on its first decode: built for
instructions the CPU (or its virtual machine) cannot execute, it takes the whole process
down with SIGSEGV or SIGILL, where no Python code can catch it. ``peermind setup`` runs
this check so that such a build is named once, with what to do, instead of every node
exiting mid-start-up.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

_PROBE = """
import sys
import llama_cpp
model = llama_cpp.Llama(sys.argv[1], n_threads=1, n_ctx=256, verbose=False)
out = model.create_completion("The sky is", max_tokens=2, temperature=0.0)
print(len(out["choices"][0]["text"]))
"""


def llama_problem(model_path: Path, *, timeout_s: float = 120.0) -> str | None:
    """None when a 2-token generation with ``model_path`` succeeds in a child process, else what went wrong."""
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE, str(model_path)], capture_output=True, text=True,
                              timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"a 2-token generation did not finish in {timeout_s:.0f} s"
    if done.returncode == 0:
        return None
    if done.returncode < 0:
        try:
            name = signal.Signals(-done.returncode).name
        except ValueError:
            name = f"signal {-done.returncode}"
        return (f"llama.cpp was killed by {name} running {model_path.name}: its build does not suit this CPU; "
                "rebuild it with `make install` (scripts/setup.sh builds without AMX, which crashes some "
                "virtual machines) or set CMAKE_ARGS for your CPU")
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return f"a 2-token generation failed (exit code {done.returncode}): {last[:300]}"
