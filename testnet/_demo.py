"""``peermind testnet demo``: the README's main job, end to end on real parts.

Start a small heterogeneous network, put real benchmark questions (with known answers)
to it through one node's API, show who answered each and why, crash a node and ask
again, run one federated round if ``peermind train`` is available, and tear everything
down. Every figure printed is measured in this run; nothing needs the internet.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from peermind.bench import (
    Item,
    accuracy_ci,
    ensure_data,
    load_items,
    mc_context,
    mc_continuations,
    normalized_choice,
)
from peermind.node.client import ClientError, NodeClient
from rich.console import Console
from rich.table import Table

from ._demo_learn import federated_round, seed_routers
from ._launcher import Testnet
from ._state import NodeInfo

DEMO_MIX = (("arc_easy", 2), ("sciq", 2), ("csqa", 1), ("arc_challenge", 1))
STEPS = 5

SEED_LIMIT = 6  # train-split questions each node labels before the federated round


def demo_items(total: int) -> list[Item]:
    """A fixed handful of test-split questions from several datasets, scaled to ``total``."""
    items: list[Item] = []
    scale = max(1, -(-total // sum(n for _d, n in DEMO_MIX)))
    for dataset, n in DEMO_MIX:
        items += load_items(dataset, "test", limit=n * scale)
    return items[:total]


class _Steps:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.n = 0
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.n += 1
        self.console.print(f"\n[bold]{self.n}/{STEPS} {title}[/]")
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings[title] = time.monotonic() - started
            self.console.print(f"  [dim]({self.timings[title]:.1f}s)[/]")


def run_demo(net: Testnet, *, nodes: int = 3, questions: int = 6, keep: bool = False, train: bool = True) -> int:
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)
    say = lambda m: console.print(f"  {m}")  # noqa: E731
    steps = _Steps(console)
    started = time.monotonic()
    console.rule("peermind demo")
    with steps.step("evaluation data (benchmark test split, known answers)"):
        ensure_data(progress=say)
        items = demo_items(questions)
        say(f"{len(items)} questions from {', '.join(sorted({i.dataset for i in items}))}")
    with steps.step(f"starting {nodes} nodes: SmolLM2-135M (cheap, fast) and Gemma-3-270M (stronger, dearer) in {net.dir}"):
        testnet = net.up(nodes, profile="mix", progress=say)
    names = {n.peer_id: f"{n.name} ({n.model})" for n in testnet}
    entry = testnet[0]
    try:
        with NodeClient(entry.api) as client:
            _show_network(console, client, names, entry)
            with steps.step(f"asking through {entry.name}'s API ({entry.api}), mode route: the node picks a peer"):
                correct, who = _ask_questions(console, client, items, names)
            with steps.step("learning: each node labels a few TRAIN-split questions, then one federated round"):
                if train:
                    say(seed_routers(testnet, SEED_LIMIT, console))
                    for line in federated_round(entry):
                        say(line)
                    _ask_one(console, client, items[0], names, "after the round, the same first question")
                else:
                    say("skipped (--no-train)")
            with steps.step("fault tolerance: kill -9 a peer, ask again"):
                _crash_and_ask(console, net, client, testnet, items[0], names, who)
        acc = accuracy_ci(correct)
        console.rule("report")
        say(f"accuracy {acc.value:.0%} (95% CI {acc.lo:.0%}–{acc.hi:.0%}, n={acc.n}) on test-split questions, mode route")
        say("answered by: " + ", ".join(f"{k} ×{v}" for k, v in who.most_common()))
        say("timings: " + ", ".join(f"{k.split(':')[0].split(' (')[0]} {v:.1f}s" for k, v in steps.timings.items()))
        say(f"total {time.monotonic() - started:.1f}s. Compare every strategy on more questions: "
            "`peermind bench eval --limit 50 --datasets arc_easy`")
    finally:
        if keep:
            console.print(f"\ntestnet left running: `peermind testnet status --dir {net.dir}`; "
                          f"stop it with `peermind testnet down --dir {net.dir}`")
        else:
            stopped = net.down()
            left = net.leftovers(testnet)
            console.print(f"\nstopped {stopped} node processes; "
                          + (f"[red]left behind: {left}[/]" if left else "no process or listening port left behind"))
    sys.stdout.flush()
    return 0


def _ask_one(console: Console, client: NodeClient, item: Item, names: dict[str, str], label: str) -> None:
    try:
        _scores, prov = client.score(mc_context(item), mc_continuations(item), mode="route")
    except ClientError as exc:
        console.print(f"  {label}: failed ({exc})")
        return
    console.print(f"  {label}: answered by {names.get(prov['answered_by'], '?')}; why: {prov.get('reason', '?')}")


def _show_network(console: Console, client: NodeClient, names: dict[str, str], entry: NodeInfo) -> None:
    table = Table(title=f"what {entry.name} knows about its peers (from their signed ads)")
    for col in ("peer", "model", "params", "gen tok/s", "cost/1k tokens", "tags"):
        table.add_column(col)
    for ad in client.peers():
        m = (ad.get("models") or [{}])[0]
        table.add_row(names.get(ad["peer_id"], ad["peer_id"][:12]), m.get("name", "?"), f"{m.get('params_m', 0):.0f}M",
                      f"{m.get('gen_tps', 0):.0f}", f"{ad.get('cost_per_1k', 0):g}", ",".join(ad.get("tags", [])))
    console.print(table)


def _ask_questions(console: Console, client: NodeClient, items: list[Item], names: dict[str, str]) -> tuple[list[bool], Counter[str]]:
    table = Table(title="answers (multiple choice, scored by log-likelihood on the answering peer)")
    for col, width in (("#", 2), ("dataset", 13), ("question", 44), ("answer", 18), ("gold", 18), ("ok", 2),
                       ("answered by", 20), ("ms", 5), ("cost", 6)):
        table.add_column(col, max_width=width, no_wrap=col != "question", overflow="ellipsis")
    correct: list[bool] = []
    who: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for i, item in enumerate(items, 1):
        assert item.choices is not None and item.gold is not None
        scores, prov = client.score(mc_context(item), mc_continuations(item), mode="route")
        pick = normalized_choice(scores)
        correct.append(pick == item.gold)
        peer = names.get(prov["answered_by"], prov["answered_by"][:12])
        who[peer] += 1
        reasons[str(prov.get("reason", "") or "?")] += 1
        table.add_row(str(i), item.dataset, item.query.replace("\n", " ")[:88], item.choices[pick], item.choices[item.gold],
                      "[green]✓[/]" if pick == item.gold else "[red]✗[/]", peer,
                      f"{prov['latency_ms']:.0f}", f"{prov.get('cost', 0):.4f}")
    console.print(table)
    for reason, count in reasons.most_common():
        console.print(f"  why ({count}×): {reason}")
    chat = client.ask("In one sentence: why is the sky blue?", max_tokens=48, mode="route")
    console.print(f"  free text: {chat.text.strip()!r}\n  answered by "
                  f"{names.get(chat.provenance['answered_by'], '?')} in {chat.provenance['latency_ms']:.0f} ms")
    return correct, who


def _crash_and_ask(console: Console, net: Testnet, client: NodeClient, testnet: list[NodeInfo], item: Item,
                   names: dict[str, str], who: Counter[str]) -> None:
    """Kill the remote peer that answered most (else the other model tier) and ask again."""
    remote = [n for n in testnet[1:] if n.alive()]
    busiest = sorted(remote, key=lambda n: -who.get(names[n.peer_id], 0))
    victim = next((n for n in busiest if who.get(names[n.peer_id])), None) or next(
        (n for n in remote if n.model != testnet[0].model), remote[0] if remote else None)
    if victim is None:
        console.print("  skipped: needs at least two nodes")
        return
    net.signal(victim.name, 9)
    console.print(f"  killed {names[victim.peer_id]} (pid {victim.pid}) with SIGKILL; its ad is still fresh")
    try:
        _scores, prov = client.score(mc_context(item), mc_continuations(item), mode="route")
    except ClientError as exc:
        console.print(f"  [red]the question failed after the crash: {exc}[/]")
        return
    attempts = prov.get("attempts", [])
    for a in attempts:
        console.print(f"  tried {names.get(a['peer_id'], a['peer_id'][:12])}: {a['outcome']} "
                      f"({a['latency_ms']:.0f} ms) {a.get('detail', '')[:80]}")
    rerouted = any(a["outcome"] != "ok" for a in attempts)
    console.print(f"  answered by {names.get(prov['answered_by'], '?')} in {prov['latency_ms']:.0f} ms"
                  + (": the node routed around the dead peer" if rerouted else " (the router did not pick the dead peer)"))
