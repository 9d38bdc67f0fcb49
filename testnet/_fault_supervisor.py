"""The process behind ``testnet fault slow`` and ``testnet fault drop --seconds``.

Runs beside the node, never inside it: ``slow`` duty-cycles the node with SIGSTOP /
SIGCONT, ``drop`` keeps destroying its peer connections (see ``_faults``). It exits
when the node dies, when ``--seconds`` have passed, or on SIGTERM, and always leaves
the node running (SIGCONT) behind it. ``--data-dir`` is on its command line so the
launcher can tell it apart from unrelated processes with a reused pid.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from ._faults import drop_connections
from ._state import pid_alive
from .errors import TestnetError


class _Stop(Exception):
    pass


def _on_term(_sig: int, _frame: object) -> None:
    raise _Stop


def run_slow(pid: int, factor: float, period_s: float, until: float) -> None:
    run_s = period_s / factor
    while pid_alive(pid) and time.monotonic() < until:
        os.kill(pid, signal.SIGCONT)
        time.sleep(run_s)
        os.kill(pid, signal.SIGSTOP)
        time.sleep(period_s - run_s)


def run_drop(pid: int, api_port: int, period_s: float, until: float) -> None:
    total = 0
    while pid_alive(pid) and time.monotonic() < until:
        total += drop_connections(pid, api_port)
        time.sleep(period_s)
    print(f"dropped {total} connections", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="peermind.testnet._fault_supervisor")
    p.add_argument("kind", choices=("slow", "drop"))
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--factor", type=float, default=3.0)
    p.add_argument("--seconds", type=float, default=0.0, help="0 = until stopped")
    p.add_argument("--period", type=float, default=0.2)
    p.add_argument("--api-port", type=int, default=0)
    args = p.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    until = time.monotonic() + args.seconds if args.seconds > 0 else float("inf")
    try:
        if args.kind == "slow":
            run_slow(args.pid, args.factor, args.period, until)
        else:
            run_drop(args.pid, args.api_port, args.period, until)
    except (_Stop, ProcessLookupError):
        pass
    except TestnetError as exc:
        print(f"fault supervisor: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        try:
            os.kill(args.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
