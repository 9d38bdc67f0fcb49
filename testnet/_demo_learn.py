"""The demo's learning step: label a few train-split questions on every node, then one
federated round, all through the nodes' public API and the ``peermind train`` command.

A federated round needs labelled feedback rows on at least two nodes; a fresh testnet
has none, so each node first seeds its router from a handful of TRAIN-split questions
(every model scores them; the node records who was right). The test split the demo
asks from is never used for this.
"""

from __future__ import annotations

import subprocess
import sys
import time

from peermind.node.client import ClientError, NodeClient
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ._state import NodeInfo

SEED_DATASET = "arc_easy"
SEED_TIMEOUT_S = 900.0

# HOOK(federated): `peermind train` (the training engineer's command). The demo runs it
# once against the entry node with these arguments; adjust them here if the command
# changes. A build without the command skips the round and says so.
TRAIN_ARGS = ("train", "start", "--rounds", "1")
TRAIN_TIMEOUT_S = 600.0


def seed_routers(nodes: list[NodeInfo], limit: int, console: Console) -> str:
    """Seed every node's router concurrently (the nodes work in parallel); one-line outcome."""
    clients = [NodeClient(n.api, timeout_s=60) for n in nodes]
    try:
        for client in clients:
            client.router_seed([SEED_DATASET], limit=limit, validation_limit=max(2, limit // 2), generation_items=0)
        columns = (TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        deadline = time.monotonic() + SEED_TIMEOUT_S
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(f"labelling {SEED_DATASET} train questions on {len(nodes)} nodes", total=None)
            while True:
                states = [c.seed_progress() for c in clients]
                progress.update(task, completed=sum(s.get("done", 0) for s in states),
                                total=sum(s.get("total", 0) for s in states) or None)
                if all(s.get("state") in ("done", "failed") for s in states) or time.monotonic() > deadline:
                    break
                time.sleep(1.0)
        failed = [f"{n.name}: {s.get('error') or s.get('state')}" for n, s in zip(nodes, states, strict=True)
                  if s.get("state") != "done"]
        rows = sum(s.get("done", 0) for s in states)
        return f"{rows} labelled answers across {len(nodes)} nodes" + (f"; not done: {'; '.join(failed)}" if failed else "")
    except ClientError as exc:
        return f"seeding failed: {exc}"
    finally:
        for client in clients:
            client.close()


def has_command(name: str) -> bool:
    from peermind.node.cli import build_parser

    for action in build_parser()._actions:  # the sub-command table of the `peermind` parser
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict) and name in choices:
            return True
    return False


def federated_round(entry: NodeInfo) -> list[str]:
    """Run ``peermind train`` once if this build has it (see HOOK above); its report lines."""
    if not has_command(TRAIN_ARGS[0]):
        return ["skipped: this build has no `peermind train` command yet"]
    cmd = [sys.executable, "-m", "peermind.node.cli", *TRAIN_ARGS, "--api", entry.api]
    try:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=TRAIN_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return [f"stopped after {TRAIN_TIMEOUT_S:.0f}s: `peermind {' '.join(TRAIN_ARGS)}` did not finish"]
    lines = [ln for ln in done.stdout.splitlines() if ln.strip() and not ln.strip().startswith("done…")]
    head = f"`peermind {' '.join(TRAIN_ARGS)}`: " + ("done" if done.returncode == 0 else f"failed (exit {done.returncode})")
    return [head, *lines[-6:]]
