"""``peermind testnet demo``: the README's main job, end to end on real parts.

Start a small heterogeneous network, let the entry node judge its peers for a moment,
put real benchmark questions (with known answers) to the network through one node's API
and to each model alone, show who answered each and why, report accuracy (95% CI) and
cost side by side, run one federated round, crash a node and ask again, and tear
everything down. Every figure printed is measured in this run; nothing needs the
internet. Any step that fails ends the command with one line and a non-zero exit code.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable

from peermind.bench import Item, ensure_data, mc_context, mc_continuations
from peermind.node.client import NodeClient
from rich.console import Console
from rich.table import Table

from ._demo_ask import ask, ask_all, demo_items, print_report, solos, write_results
from ._demo_learn import federated_round, seed_routers
from ._demo_progress import Steps
from ._demo_warmup import warm_up
from ._launcher import Testnet
from ._state import NodeInfo
from .errors import DemoFailed, TestnetError

STEPS = 6
SEED_LIMIT = 6  # train-split questions each node labels before the federated round
DEFAULT_QUESTIONS = 20
DEFAULT_WARMUP_S = 60.0
RESULTS_FILE = "demo-results.json"  # in the testnet directory: every question's answers and the summary


def run_demo(net: Testnet, *, nodes: int = 3, questions: int = DEFAULT_QUESTIONS, warmup_s: float = DEFAULT_WARMUP_S,
             keep: bool = False, train: bool = True) -> int:
    if nodes < 2:
        raise TestnetError(f"the demo needs at least 2 nodes (two model tiers and one to crash), got --nodes {nodes}")
    if questions < 1:
        raise TestnetError(f"--questions must be at least 1, got {questions}")
    if warmup_s < 0:
        raise TestnetError(f"--warmup must be 0 or more seconds, got {warmup_s:g}")
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    say = lambda m: console.print(f"  {m}", highlight=False, soft_wrap=True)  # noqa: E731
    steps = Steps(console, STEPS, net.dir)
    started = time.monotonic()
    console.rule("peermind demo")
    with steps.step("data", "evaluation data (benchmark test split, known answers)"):
        ensure_data(progress=say)
        items = demo_items(questions)
        say(f"{len(items)} questions, taken in turn from {', '.join(dict.fromkeys(i.dataset for i in items))}")
    testnet: list[NodeInfo] = []
    failed = True
    try:
        with steps.step("start", f"starting {nodes} nodes: SmolLM2-135M (cheap, fast) and Gemma-3-270M (stronger, dearer) "
                                 f"in {net.dir}"):
            testnet = net.up(nodes, profile="mix", progress=say)
        names = {n.peer_id: f"{n.name} ({n.model})" for n in testnet}
        entry = testnet[0]
        with NodeClient(entry.api) as client:
            _show_network(console, client, names, entry)
            with steps.step("warm-up", f"warm-up: up to {warmup_s:.0f} s for {entry.name} to judge its peers with "
                                       "canary questions before the timed questions"):
                say(warm_up(console, client, names, warmup_s))
            solo = solos(testnet)
            with steps.step("questions", f"{len(items)} questions through {entry.name}'s API ({entry.api}), mode route "
                                         f"(the node picks a peer), and to each model alone: {', '.join(s.label for s in solo)}"):
                results = ask_all(console, client, solo, items, names)
                print_report(console, results, solo, entry, names)
                write_results(net.dir / RESULTS_FILE, items, results, solo, names)
                say(f"every answer: {net.dir / RESULTS_FILE}")
                errors = results.failures()
                if errors:
                    raise steps.fail(f"{len(errors)} answers failed (of {len(items) * (1 + len(solo))}); first: {errors[0]}")
                _free_text(say, client, names)
            with steps.step("learning", "learning: each node labels a few TRAIN-split questions, then one federated round"):
                if train:
                    say(seed_routers(testnet, SEED_LIMIT, console))
                    say(federated_round(entry, console))
                    again = ask(client, items[0], mode="route")
                    if again.error:
                        raise steps.fail(f"the first question failed after the round: {again.error}")
                    say(f"after the round, the first question again: answered by {names.get(again.answered_by, '?')}; "
                        f"why: {again.reason or '?'}")
                else:
                    say("skipped (--no-train)")
            with steps.step("crash", "fault tolerance: kill -9 a peer, ask again"):
                _crash_and_ask(say, net, client, testnet, items[0], names, results.answered_by(names))
        console.rule("done")
        say("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in steps.timings.items())
            + f"; total {time.monotonic() - started:.1f} s")
        say("compare every strategy on more questions: `peermind bench eval --limit 50 --datasets arc_easy`")
        failed = False
    finally:
        steps.save()
        _tear_down(console, net, testnet, keep=keep, failed=failed)
    sys.stdout.flush()
    return 0


def _tear_down(console: Console, net: Testnet, testnet: list[NodeInfo], *, keep: bool, failed: bool) -> None:
    """Stop every node (unless ``keep``); processes left behind fail the demo unless it already failed."""
    if keep:
        console.print(f"\ntestnet left running: `peermind testnet status --dir {net.dir}`; "
                      f"stop it with `peermind testnet down --dir {net.dir}`")
        return
    stopped = net.down()
    left = net.leftovers(testnet)
    console.print(f"\nstopped {stopped} node processes; "
                  + (f"[red]left behind: {left}[/]" if left else "no process or listening port left behind"))
    if left and not failed:
        raise DemoFailed(f"demo teardown left processes or ports behind: {left}")


def _show_network(console: Console, client: NodeClient, names: dict[str, str], entry: NodeInfo) -> None:
    table = Table(title=f"what {entry.name} knows about its peers (from their signed ads)")
    for col in ("peer", "model", "params", "gen tok/s", "cost/1k tokens", "tags"):
        table.add_column(col)
    for ad in client.peers():
        m = (ad.get("models") or [{}])[0]
        table.add_row(names.get(ad["peer_id"], ad["peer_id"][:12]), m.get("name", "?"), f"{m.get('params_m', 0):.0f}M",
                      f"{m.get('gen_tps', 0):.0f}", f"{ad.get('cost_per_1k', 0):g}", ",".join(ad.get("tags", [])))
    console.print(table)


def _free_text(say: Callable[[str], None], client: NodeClient, names: dict[str, str]) -> None:
    chat = client.ask("In one sentence: why is the sky blue?", max_tokens=48, mode="route")
    say(f"free text: {chat.text.strip()!r} (answered by {names.get(chat.provenance['answered_by'], '?')} "
        f"in {chat.provenance['latency_ms']:.0f} ms)")


def _crash_and_ask(say: Callable[[str], None], net: Testnet, client: NodeClient, testnet: list[NodeInfo],
                   item: Item, names: dict[str, str], who: Counter[str]) -> None:
    """Kill the remote peer that answered most (else one of the other model tier) and ask again."""
    remote = [n for n in testnet[1:] if n.alive()]
    if not remote:
        raise TestnetError("no live peer left to crash")
    busiest = sorted(remote, key=lambda n: -who.get(names[n.peer_id], 0))
    victim = next((n for n in busiest if who.get(names[n.peer_id])), None) or next(
        (n for n in remote if n.model != testnet[0].model), remote[0])
    net.signal(victim.name, 9)
    say(f"killed {names[victim.peer_id]} (pid {victim.pid}) with SIGKILL; its ad is still fresh")
    _scores, prov = client.score(mc_context(item), mc_continuations(item), mode="route")
    attempts = prov.get("attempts", [])
    for a in attempts:
        say(f"tried {names.get(a['peer_id'], a['peer_id'][:12])}: {a['outcome']} ({a['latency_ms']:.0f} ms) "
            f"{a.get('detail', '')[:80]}")
    rerouted = any(a["outcome"] != "ok" for a in attempts)
    say(f"answered by {names.get(prov['answered_by'], '?')} in {prov['latency_ms']:.0f} ms"
        + (": the node routed around the dead peer" if rerouted else " (the router did not pick the dead peer)"))
