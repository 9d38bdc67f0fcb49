"""The demo's learning step: label a few train-split questions on every node, then one
federated round, all through the nodes' public API and the ``peermind train`` command.

A federated round needs labelled feedback rows on at least two nodes; a fresh testnet
may have few, so each node first seeds its router from a handful of TRAIN-split questions
(every model scores them; the node records who was right). The test split the demo asks
from is never used for this. Either part failing raises ``TestnetError`` (the demo's step
turns it into a non-zero exit with one line).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from peermind.node.client import NodeClient
from rich.console import Console
from rich.markup import escape

from ._demo_progress import Ticker, eta
from ._state import NodeInfo
from .errors import TestnetError

SEED_DATASET = "arc_easy"
SEED_TIMEOUT_S = 900.0
REPORT_EVERY_S = 10.0

# `peermind train start` against the entry node: one round among all nodes that seeded.
TRAIN_ARGS = ("train", "start", "--rounds", "1")
TRAIN_TIMEOUT_S = 600.0


def seed_routers(nodes: list[NodeInfo], limit: int, console: Console) -> str:
    """Seed every node's router concurrently (the nodes work in parallel); one-line outcome."""
    clients = [NodeClient(n.api, timeout_s=60) for n in nodes]
    try:
        for client in clients:
            client.router_seed([SEED_DATASET], limit=limit, validation_limit=max(2, limit // 2), generation_items=0)
        started = time.monotonic()
        ticker = Ticker(REPORT_EVERY_S)
        while True:
            states = [c.seed_progress() for c in clients]
            done, total = sum(s.get("done", 0) for s in states), sum(s.get("total", 0) for s in states)
            if all(s.get("state") in ("done", "failed") for s in states):
                break
            elapsed = time.monotonic() - started
            if elapsed > SEED_TIMEOUT_S:
                raise TestnetError(f"seeding did not finish within {SEED_TIMEOUT_S:.0f} s ({done}/{total} scored)")
            if ticker.due():
                left = eta(done, total, elapsed)
                console.print(f"  labelling {SEED_DATASET} train questions on {len(nodes)} nodes: {done}/{total or '?'} scored"
                              + (f", {left}" if left else ""), highlight=False)
            time.sleep(1.0)
    finally:
        for client in clients:
            client.close()
    failed = [f"{n.name}: {s.get('error') or s.get('state')}" for n, s in zip(nodes, states, strict=True)
              if s.get("state") != "done"]
    if failed:
        raise TestnetError(f"seeding failed on {'; '.join(failed)}")
    return f"{done} labelled answers across {len(nodes)} nodes"


def federated_round(entry: NodeInfo, console: Console) -> str:
    """Run ``peermind train start`` once against ``entry``, echoing its output; its last line."""
    cmd = [sys.executable, "-m", "peermind.node.cli", *TRAIN_ARGS, "--api", entry.api]
    lines: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL) as proc:
        timer = threading.Timer(TRAIN_TIMEOUT_S, proc.kill)
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip():
                    lines.append(line.rstrip())
                    console.print(f"  {escape(line.rstrip())}", highlight=False, soft_wrap=True)
            rc = proc.wait()
        finally:
            timer.cancel()
    command = f"`peermind {' '.join(TRAIN_ARGS)}`"
    if rc == -9:
        raise TestnetError(f"{command} did not finish within {TRAIN_TIMEOUT_S:.0f} s")
    if rc != 0:
        last = lines[-1].strip() if lines else "no output"
        raise TestnetError(f"{command} exited with {rc}: {last}")
    return f"{command}: done"
