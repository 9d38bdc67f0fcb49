"""The demo's questions: the network (mode route, through the entry node) against each
single model asked directly, on the same test-split questions.

Each model alone is asked with ``mode: local`` on a node that runs it, so its answers
never travel through the network, touch the entry node's trust or teach its router. Every
answer is multiple choice, scored by log-likelihood on the answering node; accuracy comes
with its 95% Wilson interval, cost is the answering peer's advertised price x tokens.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from peermind.bench import (
    Item,
    accuracy_ci,
    load_items,
    mc_context,
    mc_continuations,
    normalized_choice,
)
from peermind.node.client import ApiRequestFailed, ApiUnreachable, NodeClient
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ._demo_progress import eta
from ._state import NodeInfo
from .errors import TestnetError

# Round-robin over these, so any number of questions mixes science, commonsense and
# harder reasoning (the two models are each better on some of them).
DEMO_DATASETS = ("arc_easy", "sciq", "csqa", "arc_challenge")
QUESTION_TIMEOUT_S = 180.0


def demo_items(total: int) -> list[Item]:
    """``total`` test-split questions, taken in turn from each of ``DEMO_DATASETS``."""
    per = -(-total // len(DEMO_DATASETS))
    pools = [load_items(dataset, "test", limit=per) for dataset in DEMO_DATASETS]
    return [pool[i] for i in range(per) for pool in pools if i < len(pool)][:total]


@dataclass(frozen=True)
class Answer:
    """One answer to one question, or the error that stopped it."""

    correct: bool
    pick: int = -1
    cost: float = 0.0
    latency_ms: float = 0.0
    answered_by: str = ""
    reason: str = ""
    error: str = ""


@dataclass(frozen=True)
class Solo:
    """A model asked alone: on the first node that runs it, in ``mode: local``."""

    model: str
    node: NodeInfo

    @property
    def label(self) -> str:
        return f"{self.model} alone ({self.node.name}, local)"


@dataclass
class Results:
    network: list[Answer] = field(default_factory=list)
    solo: dict[str, list[Answer]] = field(default_factory=dict)

    def answered_by(self, names: dict[str, str]) -> Counter[str]:
        return Counter(names.get(a.answered_by, a.answered_by[:12]) for a in self.network if not a.error)

    def failures(self) -> list[str]:
        return [a.error for a in self.network if a.error] + [a.error for v in self.solo.values() for a in v if a.error]


def solos(nodes: list[NodeInfo]) -> list[Solo]:
    """One node per distinct model, in node order (the entry node's model first)."""
    seen: dict[str, Solo] = {}
    for node in nodes:
        seen.setdefault(node.model, Solo(node.model, node))
    return list(seen.values())


def ask(client: NodeClient, item: Item, **options: object) -> Answer:
    """Score ``item``'s choices through ``client``; a refusal by the node is an ``Answer`` with ``error``.

    An unreachable node (``ApiUnreachable``) is not an answer: it propagates and fails the step.
    """
    assert item.gold is not None
    started = time.perf_counter()
    try:
        scores, prov = client.score(mc_context(item), mc_continuations(item), timeout_s=QUESTION_TIMEOUT_S, **options)
    except ApiRequestFailed as exc:
        return Answer(False, latency_ms=_ms(started), error=str(exc))
    pick = normalized_choice(scores)
    return Answer(pick == item.gold, pick, float(prov.get("cost") or 0.0), _ms(started),
                  str(prov.get("answered_by", "")), str(prov.get("reason") or ""))


def ask_all(console: Console, entry: NodeClient, solo: list[Solo], items: list[Item], names: dict[str, str]) -> Results:
    """Every question to the network, then to each model alone; one progress line per question."""
    results = Results(solo={s.model: [] for s in solo})
    clients = {s.model: NodeClient(s.node.api, timeout_s=QUESTION_TIMEOUT_S + 30) for s in solo}
    started = time.monotonic()
    try:
        for i, item in enumerate(items, 1):
            net = _reached("the network", entry, item, mode="route")
            results.network.append(net)
            alone = {model: _reached(f"{model} alone", client, item, mode="local") for model, client in clients.items()}
            for model, answer in alone.items():
                results.solo[model].append(answer)
            _print_question(console, i, len(items), item, net, alone, names, eta(i, len(items), time.monotonic() - started))
    finally:
        for client in clients.values():
            client.close()
    return results


def _reached(who: str, client: NodeClient, item: Item, **options: object) -> Answer:
    """``ask``'s answer; a node that cannot be reached fails the step, naming whom the demo was asking."""
    try:
        return ask(client, item, **options)
    except ApiUnreachable as exc:
        raise TestnetError(f"asking {who}: {exc}") from exc


def _print_question(console: Console, i: int, total: int, item: Item, net: Answer, alone: dict[str, Answer],
                    names: dict[str, str], left: str) -> None:
    assert item.choices is not None and item.gold is not None
    mark = "[green]✓[/]" if net.correct else "[red]✗[/]"
    question = " ".join(item.query.split())
    question = question if len(question) <= 48 else question[:47] + "…"
    solo = " ".join(f"{m} {'✓' if a.correct else ('!' if a.error else '✗')}" for m, a in alone.items())
    if net.error:
        what = f"[red]failed: {escape(net.error[:120])}[/]"
    else:
        what = (f"{escape(item.choices[net.pick][:24])!r} (gold {escape(item.choices[item.gold][:24])!r}) by "
                f"{names.get(net.answered_by, net.answered_by[:12])}, {net.latency_ms:.0f} ms, cost {net.cost:.4f}")
    console.print(f"  {i:>2}/{total} {mark} {item.dataset:<13} {escape(question):<48} {what}; alone: {solo}"
                  + (f" [dim]· {left}[/]" if left else ""), soft_wrap=True, highlight=False)
    if net.reason:
        console.print(f"        why: {escape(net.reason)}", soft_wrap=True, highlight=False)


def print_report(console: Console, results: Results, solo: list[Solo], entry: NodeInfo, names: dict[str, str]) -> None:
    """The accuracy/cost table (network next to each model alone) and who answered."""
    n = len(results.network)
    table = Table(title=f"accuracy on the same {n} test-split questions (95% CI, Wilson)")
    for col in ("who answered", "accuracy", "95% CI", "n", "mean cost", "mean latency"):
        table.add_column(col, justify="left" if col == "who answered" else "right")
    rows = [(f"network (route via {entry.name})", results.network)]
    rows += [(s.label, results.solo[s.model]) for s in solo]
    for label, answers in rows:
        acc = accuracy_ci([a.correct for a in answers])
        table.add_row(label, f"{acc.value:.0%}", f"{acc.lo:.0%}–{acc.hi:.0%}", str(acc.n),
                      f"{_mean([a.cost for a in answers]):.4f}", f"{_mean([a.latency_ms for a in answers]):.0f} ms")
    console.print(table)
    who = results.answered_by(names)
    remote = sum(1 for a in results.network if not a.error and a.answered_by != entry.peer_id)
    console.print("  network answers by: " + ", ".join(f"{k} ×{v}" for k, v in who.most_common())
                  + f"; {remote} of {n} by a peer other than the entry node {entry.name}", highlight=False)
    net_acc, net_cost = _score(results.network)
    best = max(solo, key=lambda s: (_score(results.solo[s.model])[0], -_score(results.solo[s.model])[1]))
    best_acc, best_cost = _score(results.solo[best.model])
    share = f"{net_cost / best_cost:.0%} of its mean cost" if best_cost > 0 else "no cost to compare"
    console.print(f"  network {net_acc:.0%} vs the best model alone ({best.model}) {best_acc:.0%}: "
                  f"{(net_acc - best_acc) * 100:+.0f} points at {share}", highlight=False)


def write_results(path: Path, items: list[Item], results: Results, solo: list[Solo], names: dict[str, str]) -> None:
    """Every question's answers (network and each model alone) as JSON, so the report can be checked."""
    rows = []
    for i, item in enumerate(items[: len(results.network)]):
        net = results.network[i]
        rows.append({"id": item.id, "dataset": item.dataset, "gold": item.gold,
                     "network": {**asdict(net), "answered_by_name": names.get(net.answered_by, "")},
                     "alone": {s.model: asdict(results.solo[s.model][i]) for s in solo}})
    summary = {label: {"accuracy": _score(answers)[0], "mean_cost": _score(answers)[1], "n": len(answers)}
               for label, answers in [("network", results.network), *((s.model, results.solo[s.model]) for s in solo)]}
    path.write_text(json.dumps({"summary": summary, "questions": rows}, indent=1))


def _score(answers: list[Answer]) -> tuple[float, float]:
    """Accuracy and mean cost."""
    return (sum(a.correct for a in answers) / len(answers) if answers else 0.0), _mean([a.cost for a in answers])


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
