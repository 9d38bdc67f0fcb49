"""``peermind testnet demo``: the README's main job, end to end on real parts.

Start a small heterogeneous network, put real benchmark questions (with known
answers) to it through one node's API, show who answered each and why, then tear
everything down. Every figure printed is measured in this run.
"""

from __future__ import annotations

import sys
import time

from peermind.bench import (
    accuracy_ci,
    ensure_data,
    load_items,
    mc_context,
    mc_continuations,
    normalized_choice,
)
from peermind.node.client import NodeClient
from rich.console import Console
from rich.table import Table

from ._launcher import Testnet

DEMO_DATASET = "arc_easy"


def run_demo(net: Testnet, *, nodes: int = 3, questions: int = 6, keep: bool = False) -> int:
    console = Console(stderr=False)
    say = lambda m: console.print(f"  {m}")  # noqa: E731
    console.rule("peermind demo")
    console.print(f"1/4 preparing evaluation data ({DEMO_DATASET}, test split)")
    ensure_data(progress=say)
    items = load_items(DEMO_DATASET, "test", limit=questions)
    console.print(f"2/4 starting {nodes} nodes (SmolLM2-135M and Gemma-3-270M tiers) in {net.dir}")
    started = time.monotonic()
    testnet = net.up(nodes, profile="mix", progress=say)
    console.print(f"  up in {time.monotonic() - started:.1f}s")
    entry = testnet[0]
    names = {n.peer_id: f"{n.name} ({n.model})" for n in testnet}
    try:
        console.print(f"3/4 asking {len(items)} ARC-Easy questions through {entry.name}'s API ({entry.api})")
        table = Table(title="answers (multiple choice, scored by log-likelihood on the chosen peer)")
        for col in ("#", "question", "answer", "gold", "ok", "answered by", "why", "ms"):
            table.add_column(col, overflow="fold")
        correct: list[bool] = []
        with NodeClient(entry.api) as client:
            for i, item in enumerate(items, 1):
                scores, prov = client.score(mc_context(item), mc_continuations(item), mode="auto")
                assert item.choices is not None and item.gold is not None
                pick = normalized_choice(scores)
                ok = pick == item.gold
                correct.append(ok)
                table.add_row(
                    str(i), item.query[:70], item.choices[pick][:30], item.choices[item.gold][:30],
                    "✓" if ok else "✗", names.get(prov["answered_by"], prov["answered_by"][:12]),
                    prov.get("reason", ""), f"{prov['latency_ms']:.0f}",
                )
            console.print(table)
            chat = client.ask("In one sentence: why is the sky blue?", max_tokens=48)
            console.print(f"  free text: {chat.text.strip()!r}\n  answered by {names.get(chat.provenance['answered_by'])} in {chat.provenance['latency_ms']:.0f} ms")
        acc = accuracy_ci(correct)
        console.print(f"4/4 report: accuracy {acc.value:.0%} (95% CI {acc.lo:.0%}–{acc.hi:.0%}, n={acc.n}) on {DEMO_DATASET} test items")
        console.print("  (`peermind bench eval` compares every strategy on larger samples)")
    finally:
        if keep:
            console.print(f"testnet left running: `peermind testnet status --dir {net.dir}`; stop with `peermind testnet down --dir {net.dir}`")
        else:
            stopped = net.down()
            console.print(f"stopped {stopped} nodes")
    sys.stdout.flush()
    return 0
