"""``peermind bench relay``: what the relayed path adds to a question's latency.

Four real nodes in network namespaces (``_relay_net.RelayNet``), all light (``--model none``)
but ``b``, which runs SmolLM2 on one thread: the relay ``r`` (``--relay``); ``b``, which
answers and sits behind a NAT of sorts (AutoNAT tells it ``private``, so it reserves on
``r`` and advertises only its relayed address); ``a``, which has no route to ``b`` and
reaches it through ``r``; and ``c``, which also has a direct link to ``b``, so its
relayed connection is upgraded to a direct one (DCUtR) before measuring. The set-up is
checked and recorded first (no route a -> b, b's verdict, b's ad, r's reservations).
Each round asks ``b`` the same question from ``a`` (relayed) and from ``c`` (direct), in
alternating order, with ``peermind ask --peer b``. Per answer, the asker's latency (its
provenance) minus the generation latency ``b`` logged for that task (its task log, read
like ``bench node`` does) is the network path's overhead: connection use, transfer both
ways, framing and checks; the model's speed drops out. The figure is the paired
difference per round, relayed overhead minus direct overhead. Reported: medians, the
median paired difference and the relayed/direct ratio of end-to-end latency with 95%
bootstrap intervals over rounds, n, and machine load (``uptime``) before and after. The paths are checked (``peermind status``) before and
after the rounds: a figure measured over the wrong path is not reported.
"""

from __future__ import annotations

import sqlite3
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ._bench_results import write_bench_results
from ._eval_goals import bootstrap
from ._netns import unavailable
from ._relay_net import RelayNet
from .errors import FaultUnavailable, TestnetError

QUESTIONS: tuple[str, ...] = (
    "What is the capital of France?", "Name a primary colour.", "What do bees make?",
    "How many legs does a spider have?", "What is frozen water called?", "Which planet is red?",
    "What gas do plants take in?", "What is the opposite of hot?", "Name a large ocean.",
    "What do cows drink?", "What shape is a wheel?", "Which animal barks?",
)


@dataclass
class RelayBenchResult:
    """Per-round latencies and the summary figures, as written to the results file."""

    command: str
    rounds: int
    max_tokens: int
    load_before: str
    load_after: str
    paths_before: dict[str, str]
    paths_after: dict[str, str]
    setup: dict[str, object] = field(default_factory=dict)
    relayed_ms: list[float] = field(default_factory=list)
    direct_ms: list[float] = field(default_factory=list)
    relayed_overhead_ms: list[float] = field(default_factory=list)
    direct_overhead_ms: list[float] = field(default_factory=list)
    summary: dict[str, float] = field(default_factory=dict)


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def summarise(relayed: list[float], direct: list[float], relayed_overhead: list[float],
              direct_overhead: list[float], seed: int = 18) -> dict[str, float]:
    """Medians, the median paired overhead difference and the end-to-end median ratio, with 95% bootstrap intervals."""
    n = len(relayed)
    diff = bootstrap(lambda idx: statistics.median(relayed_overhead[i] - direct_overhead[i] for i in idx), n, seed)
    ratio = bootstrap(lambda idx: statistics.median(relayed[i] for i in idx) / statistics.median(direct[i] for i in idx),
                      n, seed + 1)
    return {
        "n": n,
        "relayed_median_ms": statistics.median(relayed), "direct_median_ms": statistics.median(direct),
        "relayed_overhead_median_ms": statistics.median(relayed_overhead),
        "direct_overhead_median_ms": statistics.median(direct_overhead),
        "added_median_ms": diff.value, "added_ci_low_ms": diff.lo, "added_ci_high_ms": diff.hi,
        "ratio": ratio.value, "ratio_ci_low": ratio.lo, "ratio_ci_high": ratio.hi,
    }


def served_latency_ms(db: Path, asker: str) -> float:
    """The generation latency the answering node logged for its latest task served to ``asker``."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        row = conn.execute("SELECT latency_ms FROM tasks WHERE direction = 'in' AND peer = ? ORDER BY id DESC LIMIT 1",
                           (asker,)).fetchone()
    finally:
        conn.close()
    if row is None:
        raise TestnetError(f"the answering node logged no task served to {asker}")
    return float(row[0])


def run_relay_bench(*, rounds: int, max_tokens: int, workdir: Path | None, command: str,
                    progress: Callable[[str], None]) -> RelayBenchResult:
    why_not = unavailable()
    if why_not is not None:
        raise FaultUnavailable(f"bench relay needs Linux network namespaces: {why_not}")
    with tempfile.TemporaryDirectory(prefix="peermind-relay-") as tmp:
        root = workdir or Path(tmp)
        progress("starting r (relay), a, b (behind r), c in separate namespaces")
        with RelayNet(root, ["a", "b", "c"], behind_nat=["b"], answerers=["b"]) as net:
            net.open_direct_path("c", "b")
            b_id = net.nodes["b"].peer_id
            # b's first ad (before AutoNAT's verdict) lists its direct address: wait for the one
            # that follows its reservation on r, which lists only circuit addresses
            net.wait_for("b's AutoNAT verdict and reservation on r", lambda: _reserved_behind_nat(net), 90)
            for asker in ("a", "c"):
                net.wait_for(f"b's relayed ad on {asker}", lambda asker=asker: any(
                    p["peer_id"] == b_id and _relayed_only(p["addrs"], b_id) for p in net.status(asker)["peers"]), 90)
            setup = check_setup(net)
            progress("warming up both paths")
            net.ask("a", QUESTIONS[0], peer="b", max_tokens=max_tokens)
            net.ask("c", QUESTIONS[0], peer="b", max_tokens=max_tokens)
            net.wait_for("a direct connection c -> b", lambda: net.path("c", "b") == "direct", 60)
            paths_before = {"a->b": net.path("a", "b"), "c->b": net.path("c", "b")}
            _check_paths(paths_before)
            result = RelayBenchResult(command, rounds, max_tokens, _uptime(), "", paths_before, {}, setup)
            for i in range(rounds):
                question = QUESTIONS[i % len(QUESTIONS)]
                order = ("a", "c") if i % 2 == 0 else ("c", "a")
                got = {who: net.ask(who, question, peer="b", max_tokens=max_tokens) for who in order}
                for who, asked in got.items():
                    if asked.answered_by != b_id:
                        raise TestnetError(f"round {i}: {who}'s question was answered by {asked.answered_by}, not b")
                db = net.nodes["b"].data_dir / "node.db"
                overhead = {who: got[who].latency_ms - served_latency_ms(db, net.nodes[who].peer_id) for who in order}
                result.relayed_ms.append(got["a"].latency_ms)
                result.direct_ms.append(got["c"].latency_ms)
                result.relayed_overhead_ms.append(overhead["a"])
                result.direct_overhead_ms.append(overhead["c"])
                progress(f"round {i + 1}/{rounds}: relayed {got['a'].latency_ms:.0f} ms (path {overhead['a']:.1f} ms), "
                         f"direct {got['c'].latency_ms:.0f} ms (path {overhead['c']:.1f} ms)")
            result.paths_after = {"a->b": net.path("a", "b"), "c->b": net.path("c", "b")}
            _check_paths(result.paths_after)
            result.load_after = _uptime()
    result.summary = summarise(result.relayed_ms, result.direct_ms, result.relayed_overhead_ms,
                               result.direct_overhead_ms)
    return result


def check_setup(net: RelayNet) -> dict[str, object]:
    """The topology the figure claims: a cannot reach b, b found itself private and is reached via r only."""
    b_id = net.nodes["b"].peer_id
    b_relay = net.status("b")["relay"]
    ad = next(p for p in net.status("a")["peers"] if p["peer_id"] == b_id)
    setup: dict[str, object] = {
        "a_routes_to_b": net.topology.run("a", ["ping", "-c1", "-W1", net.nodes["b"].ip]).returncode == 0,
        "b_verdict": b_relay["verdict"],
        "b_reservation_held": bool(b_relay["reservations"]) and b_relay["reservations"][0]["held"],
        "b_ad_addrs": ad["addrs"],
        "r_reserved_here": net.status("r")["relay"]["reserved_here"],
    }
    relayed_only = _relayed_only(ad["addrs"], b_id)
    if setup["a_routes_to_b"] or setup["b_verdict"] != "private" or not setup["b_reservation_held"] or not relayed_only:
        raise TestnetError(f"the set-up is not the one measured: {setup}")
    return setup


def _check_paths(paths: dict[str, str]) -> None:
    if paths != {"a->b": "relay", "c->b": "direct"}:
        raise TestnetError(f"the paths are not the ones measured (want a->b relay, c->b direct): {paths}")


def write_report(result: RelayBenchResult, out: Path) -> str:
    """Write ``out`` (.json) and the markdown beside it; returns the markdown."""
    s = result.summary
    md = "\n".join([
        "# Relayed vs direct path: added latency per question",
        "",
        f"Command: `{result.command}`",
        "",
        f"Machine load before: `{result.load_before}`; after: `{result.load_after}`.",
        f"Paths checked before and after: {result.paths_before} / {result.paths_after}.",
        f"Set-up checked: a has a route to b: {result.setup.get('a_routes_to_b')}; b's AutoNAT verdict: "
        f"{result.setup.get('b_verdict')}; b's reservation on r held: {result.setup.get('b_reservation_held')}.",
        "",
        f"n = {int(s['n'])} rounds; each asks b the same question from a (through the relay) and from c "
        f"(direct, after the DCUtR upgrade), {result.max_tokens} tokens at temperature 0, SmolLM2-135M on 1 thread.",
        "",
        "| path | median end-to-end latency (ms) | median network-path overhead (ms) |",
        "|---|---|---|",
        f"| relayed (a -> r -> b) | {s['relayed_median_ms']:.0f} | {s['relayed_overhead_median_ms']:.1f} |",
        f"| direct (c -> b) | {s['direct_median_ms']:.0f} | {s['direct_overhead_median_ms']:.1f} |",
        "",
        "Overhead = the asker's latency minus the generation latency b logged for the task.",
        f"Added by the relay (median of paired overhead differences): **{s['added_median_ms']:.1f} ms** "
        f"(95% CI {s['added_ci_low_ms']:.1f} to {s['added_ci_high_ms']:.1f}); end-to-end "
        f"ratio relayed/direct {s['ratio']:.3f} (95% CI {s['ratio_ci_low']:.3f} to {s['ratio_ci_high']:.3f})."
        + (" The interval includes 0: within noise." if s["added_ci_low_ms"] <= 0 <= s["added_ci_high_ms"] else ""),
        "",
    ])
    return write_bench_results(out, asdict(result), md)


def _relayed_only(addrs: list[str], peer_id: str) -> bool:
    """Whether an ad's addresses are all circuit addresses through a relay (and there is one)."""
    return bool(addrs) and all(f"/p2p-circuit/p2p/{peer_id}" in a for a in addrs)


def _reserved_behind_nat(net: RelayNet) -> bool:
    """b found itself private and holds its reservation on r."""
    b_relay = net.status("b")["relay"]
    held = bool(b_relay["reservations"]) and bool(b_relay["reservations"][0]["held"])
    return b_relay["verdict"] == "private" and held
