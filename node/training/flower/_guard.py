"""Keep a Flower process from outliving the node daemon that started it.

    python -m peermind.node.training.flower._guard PARENT_PID -- flower-supernode ...

The supervisor starts each Flower process in its own session (so its helpers
go down with it), which also means a daemon killed with SIGKILL would leave
its SuperNode/SuperLink running. This guard runs the command as its child,
forwards SIGTERM/SIGINT to it, and when PARENT_PID is gone (we were
re-parented) stops the whole process group. Standard library only: it costs
~10 MB, not a second Flower import.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

POLL_S = 0.5
GRACE_S = 5.0


def _stop_group(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole group (the command and its helpers), SIGKILL what is left after a grace."""
    try:
        os.killpg(0, signal.SIGTERM)  # includes us: the caller ignores SIGTERM first
    except OSError:
        pass
    try:
        child.wait(timeout=GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(0, signal.SIGKILL)  # helpers that ignored SIGTERM, and this guard
    except OSError:
        pass


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--" or not argv[0].isdigit():
        print("usage: python -m peermind.node.training.flower._guard PARENT_PID -- COMMAND ...", file=sys.stderr)
        return 2
    parent = int(argv[0])
    child = subprocess.Popen(argv[2:])

    def forward(sig: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while child.poll() is None:
        if os.getppid() != parent:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            print(f"guard: parent {parent} is gone; stopping {argv[2]}", file=sys.stderr, flush=True)
            _stop_group(child)
            return 1
        time.sleep(POLL_S)
    return int(child.returncode)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
