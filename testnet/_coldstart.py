"""``peermind bench coldstart``: does a fresh network use its peers from the first minute?

A new testnet (fresh identities and stores, every trust and learning setting at its
default, no seeding) idles for a warm-up, then one entry node gets test-split
multiple-choice questions in ``route`` mode, one at a time. Reported: the share answered
by a peer other than the entry node (over the first 20 and over all), accuracy with a
95% CI, the standing of every honest peer at the end, and, with an adversary, after how
many of its own answers to the entry node it fell below the ask threshold.

Drives the nodes only through the launcher, the public client and the HTTP API.
"""

from __future__ import annotations

import os
import platform
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from peermind.bench import Item, accuracy_ci, load_items, mc_context, mc_continuations
from peermind.node.client import NodeClient

from ._bench_results import write_bench_results
from ._launcher import Testnet
from ._profiles import BENCH_NODE_SETTINGS, set_args

EXCLUDED = ("do_not_ask", "banned")
FIRST = 20

Progress = Callable[[str], None]


@dataclass
class Asked:
    index: int
    item: str
    answered_by: str
    model: str
    correct: bool
    reason: str


@dataclass
class ColdStartResult:
    nodes: int
    profile: str
    adversary: str
    warmup_s: float
    up_s: float
    entry: str = ""
    questions: list[Asked] = field(default_factory=list)
    standings: dict[str, dict[str, Any]] = field(default_factory=dict)
    adversary_excluded_after: int | None = None
    """The adversary's answers to the entry node (tasks and checks) when it was first excluded."""
    load: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        n = len(self.questions)
        first = self.questions[:FIRST]
        acc = accuracy_ci([q.correct for q in self.questions])
        by_peer = dict(Counter(f"{q.model} {q.answered_by[-6:]}" for q in self.questions))
        return {
            "n": n,
            "elsewhere_first": sum(q.answered_by != self.entry for q in first),
            "first": len(first),
            "elsewhere_all": sum(q.answered_by != self.entry for q in self.questions),
            "accuracy": round(acc.value * 100, 1), "ci": [round(acc.lo * 100, 1), round(acc.hi * 100, 1)],
            "answers_by": by_peer,
            "honest_excluded": [p for p, s in self.standings.items()
                                if not s.get("adversary") and s.get("standing") in EXCLUDED],
            "adversary_excluded_after": self.adversary_excluded_after,
        }


def _load() -> dict[str, float]:
    one, five, fifteen = os.getloadavg()
    return {"load1": round(one, 2), "load5": round(five, 2), "load15": round(fifteen, 2), "cpus": float(os.cpu_count() or 1)}


def _trust_rows(client: NodeClient) -> dict[str, dict[str, Any]]:
    return {row["peer"]: row for row in client.trust().get("peers", [])}


def _ask(client: NodeClient, item: Item) -> tuple[str, str, bool, str]:
    _scores, prov = client.score(mc_context(item), list(mc_continuations(item)), mode="route")
    return str(prov["answered_by"]), str(prov.get("model", "")), prov.get("choice") == item.gold, str(prov.get("reason", ""))


def interleaved(datasets: tuple[str, ...], total: int) -> list[Item]:
    """``total`` test-split items, taking one from each dataset in turn."""
    per = -(-total // len(datasets))
    pools = [load_items(d, "test", limit=per) for d in datasets]
    out = [pool[k] for k in range(per) for pool in pools if k < len(pool)]
    return out[:total]


def run_coldstart(
    *,
    nodes: int = 3,
    profile: str = "mix",
    warmup_s: float = 60.0,
    questions: int = 100,
    datasets: tuple[str, ...] = ("arc_easy", "sciq", "arc_challenge", "csqa"),
    adversary: str = "",
    directory: Path | None = None,
    progress: Progress = lambda _m: None,
) -> ColdStartResult:
    """Bring up a fresh testnet, idle ``warmup_s``, ask ``questions`` in route mode, take it down."""
    net = Testnet(directory)
    roles = [""] * (nodes - 1) + [adversary] if adversary else None
    started = time.monotonic()
    infos = net.up(nodes, profile=profile, roles=roles, progress=progress, extra_args=set_args(BENCH_NODE_SETTINGS))
    result = ColdStartResult(nodes, profile, adversary, warmup_s, round(time.monotonic() - started, 1))
    try:
        entry = infos[0]
        result.entry = entry.peer_id
        adversary_id = next((i.peer_id for i in infos if i.role), "")
        progress(f"warm-up: {warmup_s:.0f}s of idle time (probes and idle learning run)")
        time.sleep(warmup_s)
        items = interleaved(datasets, questions)
        asked_at_exclusion: int | None = None
        with NodeClient(entry.api_url) as client:
            for index, item in enumerate(items):
                by, model, correct, reason = _ask(client, item)
                result.questions.append(Asked(index, item.id, by, model, correct, reason))
                if adversary_id and asked_at_exclusion is None:
                    row = _trust_rows(client).get(adversary_id, {})
                    if row.get("standing") in EXCLUDED:
                        asked_at_exclusion = int(row.get("interactions", 0))
                if (index + 1) % 10 == 0:
                    elsewhere = sum(q.answered_by != entry.peer_id for q in result.questions)
                    progress(f"{index + 1}/{len(items)} asked; {elsewhere} answered by a peer")
            rows = _trust_rows(client)
        result.adversary_excluded_after = asked_at_exclusion
        result.standings = {}
        for info in infos[1:]:
            row = rows.get(info.peer_id, {})
            result.standings[info.peer_id] = {"name": info.name, "model": info.model, "adversary": bool(info.role),
                                              "standing": row.get("standing", "unknown"), "score": row.get("score"),
                                              "routing_weight": row.get("routing_weight")}
        result.load = _load()
    finally:
        net.down()
    return result


def write_report(result: ColdStartResult, out: Path, command: str) -> None:
    """``out`` (JSON, per question) and ``out`` with .md: the table the README quotes."""
    s = result.summary()
    data = {"command": command, "machine": platform.platform(), "summary": s, **asdict(result)}
    lines = [
        f"# Cold start: a fresh {result.nodes}-node {result.profile} testnet"
        + (f" with one `{result.adversary}` adversary" if result.adversary else ""),
        "",
        f"Command: `{command}`  ",
        f"Load at the end: {result.load} (2-core machine)",
        "",
        "| figure | value |",
        "|---|---|",
        f"| warm-up after `testnet up` | {result.warmup_s:.0f} s |",
        f"| first {s['first']} route questions answered by a peer other than the entry node | "
        f"{s['elsewhere_first']}/{s['first']} ({100 * s['elsewhere_first'] / max(1, s['first']):.0f}%) |",
        f"| all {s['n']} route questions answered elsewhere | {s['elsewhere_all']}/{s['n']} |",
        f"| accuracy (95% CI), n = {s['n']} | {s['accuracy']}% ({s['ci'][0]}–{s['ci'][1]}) |",
        f"| answers by model and peer | {s['answers_by']} |",
        f"| honest peers below the ask threshold at the end | {len(s['honest_excluded'])} |",
    ]
    if result.adversary:
        after = s["adversary_excluded_after"]
        lines.append(f"| adversary excluded after (its interactions with the entry node) | "
                     f"{after if after is not None else 'not excluded'} |")
    lines += ["", "| peer | model | standing | score | routing weight |", "|---|---|---|---:|---:|"]
    for row in result.standings.values():
        lines.append(f"| {row['name']}{' (adversary)' if row['adversary'] else ''} | {row['model']} | "
                     f"{row['standing']} | {row['score']} | {row['routing_weight']} |")
    write_bench_results(out, data, "\n".join(lines) + "\n")
