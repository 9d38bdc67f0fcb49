"""What ``testnet status`` shows per node: alive or not, how many peers it sees, memory.

Liveness comes from the OS (pid + command line), the peer count from the node's own
API (a paused node cannot answer, which is itself the signal), memory from /proc:
RSS counts the memory-mapped model pages in every process that maps them, PSS
splits shared pages between the processes, so the PSS sum is the real footprint.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import psutil

from ._state import NodeInfo


@dataclass(frozen=True)
class NodeStatus:
    node: NodeInfo
    state: str  # up | paused | down
    peers_seen: int | None  # fresh ads the node holds; None if its API did not answer
    rss_mb: float | None
    pss_mb: float | None


def memory_mb(pid: int) -> tuple[float | None, float | None]:
    """(RSS, PSS) in MiB of one process; (None, None) if it is gone or unreadable."""
    try:
        info = psutil.Process(pid).memory_full_info()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None, None
    pss = getattr(info, "pss", None)
    return info.rss / 2**20, (pss / 2**20 if pss is not None else None)


def node_status(node: NodeInfo, http: httpx.Client) -> NodeStatus:
    if not node.alive():
        return NodeStatus(node, "down", None, None, None)
    # A node under ``slow`` is stopped most of the time but still answers, just late.
    state = "paused" if node.paused() and not node.fault_running() else "up"
    peers: int | None = None
    if state == "up" and node.api_url:
        try:
            peers = len(http.get(f"{node.api_url}/peermind/peers").json()["peers"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            peers = None
    rss, pss = memory_mb(node.pid)
    return NodeStatus(node, state, peers, rss, pss)


def collect(nodes: list[NodeInfo], timeout_s: float = 2.0) -> list[NodeStatus]:
    with httpx.Client(timeout=timeout_s) as http:
        return [node_status(n, http) for n in nodes]
