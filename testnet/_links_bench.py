"""``peermind bench links``: route accuracy, latency and ``budget_ms`` on clean vs degraded links.

One testnet (``mix``: node-0 SmolLM2 on a phone, node-1 Gemma-3 in the cloud, node-2 a
light node, the asking device, which runs no model so that every answer crosses a link)
with every node behind the link proxy (``_links.py``), all links clean at first. The
same held-out questions go to the light node with ``mode=route`` and ``budget_ms``, one
at a time as a user would ask, in four blocks A B B A: the first half clean then
degraded, the second half degraded then clean (``fault degrade`` with the issue's
links: device-to-cloud rtt=40ms, the phone at 2 Mbit/s with 1% loss). Every question is
thus asked under both conditions, and warm-up, caches and machine drift fall on both
sides alike. Before a block the bench waits until the asker's measured round trips
(its ping EWMA) have followed the links. A few warm-up questions (further items of the
split, not counted) go first: a fresh router delivers its proven peer's answer while it
explores the others, and that phase would otherwise fall on the first block alone.

Reported per condition: accuracy (Wilson 95% CI, n), p50/p95 latency (bootstrap 95%
CI), the share of questions answered within ``budget_ms`` (Wilson CI) and who
answered; degraded/clean ratios with paired bootstrap CIs; ``uptime`` before and after.
A question over budget is kept with what the router estimated for it, to find why.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from peermind.bench import (
    Item,
    accuracy_ci,
    load_items,
    mc_context,
    mc_continuations,
    normalized_choice,
    percentile,
)
from peermind.node.client import ApiRequestFailed, ApiUnreachable, NodeClient

from ._eval_goals import bootstrap
from ._launcher import NodeInfo, Testnet
from ._links import CLEAN, Link, parse_link_arg
from ._profiles import BENCH_NODE_SETTINGS, set_args
from .errors import TestnetError

Say = Callable[[str], None]
CONDITIONS = ("clean", "degraded")
DEFAULT_DEGRADE = ("node-1:rtt=40ms", "node-0:bw=2mbit,loss=1%")
# Idle learning (canaries, probes, router updates) would change the router between blocks
# and take CPU from the answers; the comparison is about links, so the nodes hold still.
STILL_NODE_SETTINGS = ("trust.canary_rate=0", "trust.probe_interval_s=0", "trust.cross_check_rate=0",
                       "router.learn_interval_s=0")
# The ping EWMA has followed a link change once it covers half the step up (two pings), or is below half
# the degraded path's rtt on the way back (on a loaded machine a clean path measures 5-15 ms).
RTT_FOLLOW_UP = 0.5
RTT_FOLLOW_DOWN = 0.5
RTT_FOLLOW_TIMEOUT_S = 90.0
INFEASIBLE = "infeasible_constraints"  # the API's error kind when no candidate can meet budget_ms


@dataclass(frozen=True)
class LinksBenchSettings:
    dataset: str = "arc_easy"
    split: str = "test"
    items: int = 40
    warmup: int = 8
    budget_ms: float = 4000.0
    degrade: tuple[str, ...] = DEFAULT_DEGRADE
    nodes: int = 2
    light: int = 1
    profile: str = "mix"
    threads: int = 1
    timeout_s: float = 60.0
    out: Path = Path("docs/results/links.json")
    testnet_dir: Path | None = None
    command: str = ""

    def links(self) -> dict[str, Link]:
        return dict(parse_link_arg(x) for x in self.degrade)


@dataclass
class Answer:
    """One question under one condition, as the asking client saw it."""

    item: str
    condition: str
    block: int
    correct: bool
    latency_ms: float
    answered_by: str = ""
    est_latency_ms: float | None = None  # the router's estimate for the peer that answered
    rtt_ms: float | None = None  # the measured round trip in that estimate
    reason: str = ""
    error: str = ""

    def within(self, budget_ms: float) -> bool:
        """Answered, and in time."""
        return not self.error and self.latency_ms <= budget_ms

    def kept(self, budget_ms: float) -> bool:
        """The budget held: answered in time, or refused in time because no peer could make it."""
        return self.latency_ms <= budget_ms and (not self.error or self.error.startswith(INFEASIBLE))


def plan_blocks(items: Sequence[Item]) -> list[tuple[str, list[Item]]]:
    """A B B A over two halves: each item once clean and once degraded, in balanced order."""
    half = (len(items) + 1) // 2
    first, second = list(items[:half]), list(items[half:])
    return [("clean", first), ("degraded", first), ("degraded", second), ("clean", second)]


def ask(client: NodeClient, item: Item, condition: str, block: int, settings: LinksBenchSettings) -> Answer:
    """One multiple-choice question through the entry node's API, ``mode=route`` with the budget."""
    started = time.perf_counter()
    try:
        scores, prov = client.score(mc_context(item), mc_continuations(item), mode="route",
                                    budget_ms=settings.budget_ms, timeout_s=settings.timeout_s)
    except ApiRequestFailed as exc:
        return Answer(item.id, condition, block, False, _ms(started), error=f"{exc.kind}: {exc}"[:300])
    except ApiUnreachable as exc:
        return Answer(item.id, condition, block, False, _ms(started), error=f"unreachable: {exc}"[:300])
    latency = _ms(started)
    answered_by = str(prov.get("answered_by", ""))
    chosen = [c for c in prov.get("considered") or [] if isinstance(c, dict) and c.get("peer_id") == answered_by]
    est = chosen[0].get("est_latency_ms") if chosen else None
    rtt = chosen[0].get("rtt_ms") if chosen else None
    return Answer(item.id, condition, block, normalized_choice(scores) == item.gold, latency, answered_by,
                  float(est) if est is not None else None, float(rtt) if rtt is not None else None,
                  str(prov.get("reason", ""))[:200])


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def wait_rtt_follows(entry: NodeInfo, peers: dict[str, Link], by_name: dict[str, NodeInfo], degraded: bool,
                     say: Say, timeout_s: float = RTT_FOLLOW_TIMEOUT_S) -> dict[str, float]:
    """Wait until the entry's measured round trip to each peer with an rtt link has followed the change."""
    own_ms = peers.get(entry.name, CLEAN).rtt_ms  # the entry's own access link adds to every path from it
    targets = {x.peer_id: peers.get(name, CLEAN).rtt_ms + own_ms for name, x in by_name.items()
               if name != entry.name and x.model != "none" and peers.get(name, CLEAN).rtt_ms + own_ms > 0}
    deadline = time.monotonic() + timeout_s
    seen: dict[str, float] = {}
    with NodeClient(entry.api, timeout_s=30) as client:
        while True:
            seen = {p: float(v) for p, v in client.status().get("rtt_ms", {}).items()}
            if all(_followed(seen.get(p), target, degraded) for p, target in targets.items()):
                return seen
            if time.monotonic() > deadline:
                say(f"  measured round trips did not follow within {timeout_s:.0f}s: {seen}")
                return seen
            time.sleep(1.0)


def _followed(measured: float | None, target_ms: float, degraded: bool) -> bool:
    if measured is None:
        return False
    return measured >= RTT_FOLLOW_UP * target_ms if degraded else measured <= RTT_FOLLOW_DOWN * target_ms


@dataclass
class LinksBenchResult:
    settings: dict[str, Any]
    load_before: str = ""
    load_after: str = ""
    nodes: list[dict[str, str]] = field(default_factory=list)
    rtt_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # block label -> entry's measured RTTs
    answers: list[Answer] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def run_links_bench(settings: LinksBenchSettings, say: Say) -> LinksBenchResult:
    """Start the testnet, ask the blocks, take the testnet down; figures and files written."""
    links = settings.links()
    loaded = load_items(settings.dataset, settings.split, limit=settings.items + settings.warmup)
    items, warmup = loaded[: settings.items], loaded[settings.items:]
    if not items:
        raise TestnetError(f"{settings.dataset}/{settings.split} has no items")
    result = LinksBenchResult({k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()})
    with tempfile.TemporaryDirectory(prefix="peermind-links-bench-") as tmp:
        net = Testnet((settings.testnet_dir or Path(tmp)) / "links")
        try:
            say(f"testnet: {settings.nodes} model nodes ({settings.profile}) and {settings.light} light, "
                "behind clean emulated links")
            nodes = net.up(settings.nodes, profile=settings.profile, threads=settings.threads, light=settings.light,
                           links={},
                           extra_args=set_args(BENCH_NODE_SETTINGS + STILL_NODE_SETTINGS) + ["--no-join-training"],
                           timeout_s=300.0)
            by_name = {x.name: x for x in nodes}
            unknown = sorted(set(links) - set(by_name))
            if unknown:
                raise TestnetError(f"--degrade names {', '.join(unknown)}, but the nodes are {', '.join(by_name)}")
            entry = nodes[-1]  # the light node when there is one: every answer then crosses a link
            result.nodes = [{"name": x.name, "model": x.model, "peer_id": x.peer_id} for x in nodes]
            result.load_before = _uptime()
            state = "clean"
            with NodeClient(entry.api, timeout_s=settings.timeout_s + 30) as client:
                wait_rtt_follows(entry, links, by_name, False, say)
                say(f"warm-up: {len(warmup)} questions (not counted)")
                result.answers += [ask(client, item, "warmup", 0, settings) for item in warmup]
                for index, (condition, block) in enumerate(plan_blocks(items)):
                    if condition != state:
                        for name, link in links.items():
                            net.degrade(name, link if condition == "degraded" else CLEAN)
                        state = condition
                    result.rtt_ms[f"{index + 1}:{condition}"] = wait_rtt_follows(
                        entry, links, by_name, condition == "degraded", say)
                    say(f"block {index + 1}/4 {condition}: {len(block)} questions")
                    result.answers += [ask(client, item, condition, index + 1, settings) for item in block]
            result.load_after = _uptime()
        except (TestnetError, ApiUnreachable, ApiRequestFailed) as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            say(f"FAILED: {result.error}")
        finally:
            net.down()
    result.figures = figures(result.answers, settings.budget_ms)
    write_report(result, settings.out, settings.command)
    return result


# ---------------------------------------------------------------- figures
def _condition_figures(answers: list[Answer], budget_ms: float) -> dict[str, Any]:
    acc = accuracy_ci([a.correct for a in answers])
    within = accuracy_ci([a.within(budget_ms) for a in answers])
    kept = accuracy_ci([a.kept(budget_ms) for a in answers])
    lat = [a.latency_ms for a in answers]
    p50 = bootstrap(lambda idx: percentile([lat[i] for i in idx], 50), len(lat), 50)
    p95 = bootstrap(lambda idx: percentile([lat[i] for i in idx], 95), len(lat), 95)
    by: dict[str, int] = {}
    for a in answers:
        by[a.answered_by or "(error)"] = by.get(a.answered_by or "(error)", 0) + 1
    return {
        "n": len(answers), "accuracy": asdict(acc), "within_budget": asdict(within), "budget_kept": asdict(kept),
        "infeasible": sum(1 for a in answers if a.error.startswith(INFEASIBLE)),
        "p50_ms": asdict(p50), "p95_ms": asdict(p95), "errors": sum(1 for a in answers if a.error),
        "answered_by": by,
    }


def figures(answers: list[Answer], budget_ms: float) -> dict[str, Any]:
    """Per condition, and degraded/clean ratios paired by item (bootstrap over items)."""
    out: dict[str, Any] = {c: _condition_figures([a for a in answers if a.condition == c], budget_ms)
                           for c in CONDITIONS}
    clean = {a.item: a for a in answers if a.condition == "clean"}
    degraded = {a.item: a for a in answers if a.condition == "degraded"}
    paired = sorted(set(clean) & set(degraded))
    c_lat = [clean[i].latency_ms for i in paired]
    d_lat = [degraded[i].latency_ms for i in paired]
    n = len(paired)

    def ratio(q: float) -> Callable[[Sequence[int]], float]:
        def stat(idx: Sequence[int]) -> float:
            base = percentile([c_lat[i] for i in idx], q)
            return percentile([d_lat[i] for i in idx], q) / base if base > 0 else math.nan
        return stat

    def acc_diff(idx: Sequence[int]) -> float:
        return (sum(degraded[paired[i]].correct for i in idx) - sum(clean[paired[i]].correct for i in idx)) / len(idx)

    out["paired"] = {
        "n": n,
        "p50_ratio": asdict(bootstrap(ratio(50), n, 7)) if n else None,
        "p95_ratio": asdict(bootstrap(ratio(95), n, 8)) if n else None,
        "accuracy_diff": asdict(bootstrap(acc_diff, n, 9)) if n else None,
    }
    over = [a for a in answers if a.condition in CONDITIONS and not a.within(budget_ms)]
    out["over_budget"] = [asdict(a) for a in over]
    out["budget_respected_95"] = {c: out[c]["within_budget"]["value"] >= 0.95 for c in CONDITIONS if out[c]["n"]}
    out["budget_kept_95"] = {c: out[c]["budget_kept"]["value"] >= 0.95 for c in CONDITIONS if out[c]["n"]}
    return out


def _ci(d: dict[str, float], fmt: str = "{:.0f}") -> str:
    if any(not isinstance(d.get(k), float | int) or math.isnan(d[k]) for k in ("value", "lo", "hi")):
        return "n/a"
    return f"{fmt.format(d['value'])} [{fmt.format(d['lo'])}, {fmt.format(d['hi'])}]"


def markdown(result: LinksBenchResult, command: str) -> str:
    """The report: one table, clean vs degraded, with the ratios and the budget note."""
    f = result.figures
    s = result.settings
    lines = [
        "# Route on clean vs degraded links (`peermind bench links`)", "",
        f"Command: `{command or 'peermind bench links'}`", "",
        f"{s['dataset']} {s['split']} split, n = {f['clean']['n']} questions per condition (each asked under both), "
        f"`mode=route`, `budget_ms={s['budget_ms']:g}`, asked one at a time at {_entry_name(result)}. Degraded: "
        + ", ".join(f"`{x}`" for x in s["degrade"]) + ". Blocks A B B A (clean, degraded, degraded, clean).", "",
        f"Load before: `{result.load_before}`  ",
        f"Load after: `{result.load_after}`", "",
        "| | clean | degraded | degraded / clean (paired, 95% CI) |",
        "|---|---|---|---|",
    ]
    c, d, p = f["clean"], f["degraded"], f["paired"]

    def pct(x: dict[str, float]) -> str:
        return _ci({k: x[k] * 100 for k in ("value", "lo", "hi")}, "{:.1f}") + "%"

    acc_diff = p.get("accuracy_diff") or {}
    diff_text = _ci({k: acc_diff[k] * 100 for k in ("value", "lo", "hi")}, "{:+.1f}") + " points" if acc_diff else "n/a"
    lines += [
        f"| accuracy (Wilson 95% CI) | {pct(c['accuracy'])} | {pct(d['accuracy'])} | {diff_text} |",
        f"| p50 latency ms (bootstrap 95% CI) | {_ci(c['p50_ms'])} | {_ci(d['p50_ms'])} | "
        f"{_ci(p['p50_ratio'], '{:.2f}') if p.get('p50_ratio') else 'n/a'} |",
        f"| p95 latency ms (bootstrap 95% CI) | {_ci(c['p95_ms'])} | {_ci(d['p95_ms'])} | "
        f"{_ci(p['p95_ratio'], '{:.2f}') if p.get('p95_ratio') else 'n/a'} |",
        f"| answered within budget_ms (Wilson 95% CI) | {pct(c['within_budget'])} | {pct(d['within_budget'])} | |",
        f"| budget kept: answered in time or refused in time as infeasible | {pct(c['budget_kept'])} | "
        f"{pct(d['budget_kept'])} | |",
        f"| errors (of which infeasible: no peer could meet budget_ms) | {c['errors']} ({c['infeasible']}) | "
        f"{d['errors']} ({d['infeasible']}) | |", "",
    ]
    names = {x["peer_id"]: f"{x['name']} ({x['model']})" for x in result.nodes}
    for cond in CONDITIONS:
        who = ", ".join(f"{names.get(k, k)}: {v}" for k, v in sorted(f[cond]["answered_by"].items()))
        lines.append(f"Answered by, {cond}: {who}  ")
    lines.append("")
    for cond in CONDITIONS:
        if f[cond]["n"]:
            ok = f["budget_respected_95"].get(cond)
            kept = f["budget_kept_95"].get(cond)
            lines.append(f"- {cond}: answered within budget_ms in {f[cond]['within_budget']['value'] * 100:.1f}% of "
                         f"questions ({'at least' if ok else 'below'} 95%); the budget was kept (answered in time, or "
                         f"refused in time because no peer could meet it) in {f[cond]['budget_kept']['value'] * 100:.1f}% "
                         f"({'at least' if kept else 'below'} 95%).")
    over = f.get("over_budget") or []
    if over:
        lines += ["", "Over budget (latency ms, router's estimate ms, rtt ms, who, error):", ""]
        lines += [f"- {a['condition']} {a['item']}: {a['latency_ms']:.0f}, {a['est_latency_ms']}, {a['rtt_ms']}, "
                  f"{names.get(a['answered_by'], a['answered_by'] or '-')}, {a['error'] or '-'}" for a in over]
    if result.error:
        lines += ["", f"**The run failed:** {result.error}"]
    lines.append("")
    return "\n".join(lines)


def _entry_name(result: LinksBenchResult) -> str:
    return f"{result.nodes[-1]['name']} ({result.nodes[-1]['model']})" if result.nodes else "the entry node"


def write_report(result: LinksBenchResult, out: Path, command: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    data = asdict(result)
    data["command"] = command
    out.write_text(json.dumps(data, indent=2))
    out.with_suffix(".md").write_text(markdown(result, command))
