"""Real 3-node testnets with an adversary, for the adversary integration tests.

Nodes are real processes started by the testnet launcher (adversaries through
``python -m peermind.testnet.adversary``); ``running_testnet`` always takes them down.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from peermind.testnet._launcher import NodeInfo, Testnet
from peermind.testnet.adversary import GO_FILE, STATS_FILE, STOP_FILE


@contextmanager
def running_testnet(root: Path, roles: list[str], *, extra: list[str] | None = None,
                    env: dict[str, str] | None = None) -> Iterator[list[NodeInfo]]:
    saved = dict(os.environ)
    os.environ.update({"PEERMIND_ADVERSARY_START_S": "100000", **(env or {})})
    net = Testnet(root / "testnet")
    try:
        yield net.up(len(roles), profile="small", roles=roles, threads=1, timeout_s=240.0,
                     extra_args=["--no-join-training", *(extra or [])])
    finally:
        net.down()
        os.environ.clear()
        os.environ.update(saved)


def start_attack(node: NodeInfo) -> None:
    (Path(node.data_dir) / GO_FILE).write_text("go")


def stop_attack(node: NodeInfo) -> None:
    (Path(node.data_dir) / STOP_FILE).write_text("stop")


def adversary_counts(node: NodeInfo) -> dict[str, int]:
    try:
        return dict(json.loads((Path(node.data_dir) / STATS_FILE).read_text())["counts"])
    except (OSError, ValueError, KeyError):
        return {}


def trust_view(node: NodeInfo) -> dict[str, Any]:
    return httpx.get(f"{node.api_url}/peermind/trust", timeout=30.0).json()


def row_of(view: dict[str, Any], peer: str) -> dict[str, Any] | None:
    return next((r for r in view["peers"] if r["peer"] == peer), None)


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
