"""Bytes on a node's peer connections, read from the kernel's TCP counters (``ss -tinp``).

A node process cannot be asked how much it gossips without trusting its own accounting;
the kernel counts every byte of every socket (``bytes_sent``, ``bytes_received`` in
``tcp_info``). Two snapshots some seconds apart give each node's peer traffic in that
window: gossip (ads, trust opinions), DHT, identify and ping. The HTTP API's sockets are
left out (the benchmark's own polling is not the node's traffic).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from .errors import FaultUnavailable

_HEAD = re.compile(r"(\S+):(\d+)\s+(\S+):(\d+)\s+users:\(\(.*?pid=(\d+)")
_BYTES = re.compile(r"\bbytes_(sent|received):(\d+)")

SocketKey = tuple[int, str, str]  # (pid, local "ip:port", remote "ip:port")


@dataclass(frozen=True)
class SocketBytes:
    sent: int
    received: int


def snapshot(pids: set[int], skip_ports: set[int]) -> dict[SocketKey, SocketBytes]:
    """Byte counters of every established TCP socket of ``pids`` (not on ``skip_ports``)."""
    ss = shutil.which("ss")
    if ss is None:
        raise FaultUnavailable("`ss` (iproute2) is not installed: traffic cannot be measured")
    text = subprocess.run([ss, "-tinpH", "state", "established"], capture_output=True, text=True,
                          check=False).stdout
    return parse(text, pids, skip_ports)


def parse(text: str, pids: set[int], skip_ports: set[int]) -> dict[SocketKey, SocketBytes]:
    """``ss -tinpH`` output (a socket line, then its tcp_info line) -> counters per socket."""
    out: dict[SocketKey, SocketBytes] = {}
    key: SocketKey | None = None
    for line in text.splitlines():
        head = _HEAD.search(line)
        if head:
            lip, lport, rip, rport, pid = head.groups()
            keep = int(pid) in pids and int(lport) not in skip_ports
            key = (int(pid), f"{lip}:{lport}", f"{rip}:{rport}") if keep else None
            continue
        if key is not None and "bytes_" in line:
            counts = dict(_BYTES.findall(line))
            out[key] = SocketBytes(int(counts.get("sent", 0)), int(counts.get("received", 0)))
            key = None
    return out


def bytes_per_pid(before: dict[SocketKey, SocketBytes], after: dict[SocketKey, SocketBytes]) -> dict[int, int]:
    """Bytes sent + received per pid between two snapshots (a socket opened between them counts whole)."""
    totals: dict[int, int] = {}
    for key, now in after.items():
        was = before.get(key, SocketBytes(0, 0))
        totals[key[0]] = totals.get(key[0], 0) + max(0, now.sent - was.sent) + max(0, now.received - was.received)
    return totals
