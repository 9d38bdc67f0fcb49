"""Faults injected from outside a node process; the node gets no code for them.

- kill / stop / pause / resume: plain signals (SIGKILL, SIGTERM, SIGSTOP, SIGCONT).
- slow FACTOR: a supervisor process duty-cycles the node with SIGSTOP/SIGCONT, letting it
  run ``period/FACTOR`` of every ``period``. Compute-bound work (the LLM) takes about
  FACTOR times longer and every network read waits up to ``period·(1-1/FACTOR)``; the
  node's own clock keeps running, so its deadlines and measured latencies see the delay
  like a slow machine's would.
- drop: the node's established libp2p TCP connections are destroyed in the kernel
  (``ss -K``, SOCK_DESTROY): both ends get a reset, exactly as after a network blip,
  and peers redial. ``--seconds S`` keeps destroying new connections for S seconds (a
  partition: the node is cut off from its peers but its local API still answers).
  Needs root or CAP_NET_ADMIN and a kernel with CONFIG_INET_DIAG_DESTROY; without them
  it raises ``FaultUnavailable`` (``pause`` then gives a blackhole instead: connections
  stay open but nothing answers, so peers' calls time out).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import psutil

from .errors import FaultUnavailable, TestnetError

SIGNAL_FAULTS: dict[str, int] = {
    "kill": signal.SIGKILL,
    "stop": signal.SIGTERM,
    "pause": signal.SIGSTOP,
    "resume": signal.SIGCONT,
}
SUPERVISED_FAULTS = ("slow", "drop")
DEFAULT_PERIOD_S = 0.2


@dataclass(frozen=True)
class Connection:
    local: tuple[str, int]
    remote: tuple[str, int]


def p2p_connections(pid: int, api_port: int) -> list[Connection]:
    """Established TCP connections of ``pid`` except those of its HTTP API (clients stay)."""
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.ZombieProcess) as exc:
        raise TestnetError(f"process {pid} is gone") from exc
    return [
        Connection((c.laddr.ip, c.laddr.port), (c.raddr.ip, c.raddr.port))
        for c in conns
        if c.status == psutil.CONN_ESTABLISHED and c.raddr and c.laddr.port != api_port
    ]


def drop_connections(pid: int, api_port: int) -> int:
    """Destroy the node's peer connections in the kernel; returns how many went.

    One ``ss -K`` for all of them: a partition (``drop --seconds``) repeats this every
    period, and a connection that lives long enough for a libp2p handshake would carry
    ads across the cut.
    """
    ss = shutil.which("ss")
    if ss is None:
        raise FaultUnavailable("`ss` (iproute2) is not installed; `fault pause` gives a blackhole instead")
    before = p2p_connections(pid, api_port)
    if not before:
        return 0
    filt = " or ".join(
        f"( src {_host(c.local[0])} and sport = :{c.local[1]} and dst {_host(c.remote[0])} and dport = :{c.remote[1]} )"
        for c in before
    )
    subprocess.run([ss, "-K", "-tn", "state", "established", f"( {filt} )"], capture_output=True, check=False)
    after = set(p2p_connections(pid, api_port))
    survivors = [c for c in before if c in after]
    if len(survivors) == len(before):
        raise FaultUnavailable(
            "the kernel kept every connection: destroying sockets needs root or CAP_NET_ADMIN "
            "and CONFIG_INET_DIAG_DESTROY; `fault pause` gives a blackhole instead"
        )
    return len(before) - len(survivors)


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def start_link_proxy(directory: object, log_path: str) -> int:
    """Start the emulated-links proxy for a testnet directory (``_link_proxy.py``); returns its pid."""
    cmd = [sys.executable, "-m", "peermind.testnet._link_proxy", "--dir", str(directory)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    time.sleep(0.3)
    if proc.poll() is not None:
        raise TestnetError(f"the link proxy exited at once (code {proc.returncode}); see {log_path}")
    return proc.pid


def start_supervisor(kind: str, pid: int, data_dir: str, *, factor: float = 3.0, seconds: float = 0.0,
                     period_s: float = DEFAULT_PERIOD_S, api_port: int = 0, log_path: str | None = None) -> int:
    """Start a detached fault supervisor for node ``pid``; returns the supervisor's pid."""
    if kind not in SUPERVISED_FAULTS:
        raise TestnetError(f"unknown fault {kind!r}; supervised faults are {', '.join(SUPERVISED_FAULTS)}")
    if kind == "slow" and not factor > 1:
        raise TestnetError(f"slow needs --factor above 1 (the node runs 1/FACTOR of the time), got {factor}")
    cmd = [
        sys.executable, "-m", "peermind.testnet._fault_supervisor", kind,
        "--pid", str(pid), "--data-dir", data_dir, "--factor", str(factor),
        "--seconds", str(seconds), "--period", str(period_s), "--api-port", str(api_port),
    ]
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        if log_path:
            log.close()  # type: ignore[union-attr]
    time.sleep(0.3)
    if proc.poll() is not None:
        raise TestnetError(f"the {kind} supervisor exited at once (code {proc.returncode}); see {log_path}")
    return proc.pid
