"""``peermind bench load``: does a network serve more when it has more peers?

For each N in ``--peers`` (default 1, 2, 4) a fresh testnet: N SmolLM2 nodes (one llama.cpp
thread each) that serve, and one light node (``--model none``) that every client asks, so
all answers come from the serving peers through the network path. ``clients-per-peer x N``
clients (threads, each with its own ``NodeClient``) ask short questions (``mode=route``,
``--max-tokens`` each) back to back for ``--seconds``; then each finishes the question in
hand. Figures per N: answers per second (completed answers / time from the first question
to the last answer), latency p50/p95, and how the answers spread over the peers. The
baseline is N = 1 in the same run (the mean of its phases: ``--peers 1,2,4,1`` brackets
drift in the machine's load): scaling efficiency = throughput(N) / (N x throughput(1)),
goal >= 0.8 until the cores run out. The machine's load (1-minute average, ``uptime``) is
recorded before and after each N. Trust and idle learning are off: this measures serving
capacity, not canaries or exploration (their cost is in ``bench trust``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._bench_node import PROMPTS
from ._bench_results import write_bench_results
from ._profiles import BENCH_NODE_SETTINGS, set_args

SETTINGS = (*BENCH_NODE_SETTINGS, "trust.enabled=false", "router.learn_interval_s=0")
GOAL_EFFICIENCY = 0.8


@dataclass
class Call:
    started: float
    ended: float
    ok: bool
    peer: str = ""
    error: str = ""


@dataclass
class LoadPhase:
    peers: int
    clients: int
    calls: list[Call] = field(default_factory=list)
    load_before: str = ""
    load_after: str = ""

    def summary(self) -> dict[str, Any]:
        ok = [c for c in self.calls if c.ok]
        lat = sorted((c.ended - c.started) * 1000 for c in ok)
        span = (max(c.ended for c in ok) - min(c.started for c in self.calls)) if ok else 0.0
        spread = Counter(c.peer[-6:] for c in ok)
        return {
            "peers": self.peers,
            "clients": self.clients,
            "answers": len(ok),
            "errors": len(self.calls) - len(ok),
            "seconds": round(span, 2),
            "throughput_per_s": round(len(ok) / span, 4) if span > 0 else 0.0,
            "latency_ms_p50": round(_quantile(lat, 0.5), 1) if lat else None,
            "latency_ms_p95": round(_quantile(lat, 0.95), 1) if lat else None,
            "answers_per_peer": dict(sorted(spread.items())),
            "load_before": self.load_before,
            "load_after": self.load_after,
        }


@dataclass
class LoadBenchResult:
    max_tokens: int
    seconds: float
    clients_per_peer: int
    phases: list[LoadPhase] = field(default_factory=list)
    cpus: int = field(default_factory=lambda: os.cpu_count() or 0)

    def summary(self) -> dict[str, Any]:
        rows = [p.summary() for p in self.phases]
        ones = [r["throughput_per_s"] for r in rows if r["peers"] == 1]
        base = statistics.mean(ones) if ones else None  # several N = 1 phases bracket load drift
        for r in rows:
            r["efficiency"] = (round(r["throughput_per_s"] / (r["peers"] * base), 3) if base else None)
            r["speedup"] = round(r["throughput_per_s"] / base, 3) if base else None
        return {"cpus": self.cpus, "goal_efficiency_at_least": GOAL_EFFICIENCY, "phases": rows}

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "raw": asdict(self)}


def _quantile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def drive(api: str, *, clients: int, seconds: float, max_tokens: int, warmup: int) -> list[Call]:
    """``clients`` threads asking back to back through ``api`` for ``seconds`` (after a warm-up)."""
    from peermind.node.client import NodeClient

    calls: list[Call] = []
    lock = threading.Lock()

    def ask(client: NodeClient, i: int) -> Call:
        started = time.perf_counter()
        try:
            result = client.ask(PROMPTS[i % len(PROMPTS)], mode="route", max_tokens=max_tokens)
        except Exception as exc:  # a refused or failed question is counted, not fatal
            return Call(started, time.perf_counter(), False, error=f"{type(exc).__name__}: {exc}"[:200])
        return Call(started, time.perf_counter(), True, peer=str(result.provenance.get("answered_by", "")))

    with NodeClient(api) as warm:
        for i in range(warmup):
            ask(warm, i)
    deadline = time.perf_counter() + seconds

    def client_loop(k: int) -> None:
        with NodeClient(api) as client:
            i = k
            while time.perf_counter() < deadline:
                call = ask(client, i)
                with lock:
                    calls.append(call)
                i += clients

    threads = [threading.Thread(target=client_loop, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return calls


def run_load_benchmark(*, peers: Sequence[int], clients_per_peer: int, seconds: float, max_tokens: int,
                       workdir: Path | None, progress: Callable[[str], None]) -> LoadBenchResult:
    from ._launcher import Testnet

    result = LoadBenchResult(max_tokens=max_tokens, seconds=seconds, clients_per_peer=clients_per_peer)
    root = workdir or Path(tempfile.mkdtemp(prefix="peermind-load-bench-"))
    for n in peers:
        net = Testnet(root / f"peers-{n}")
        try:
            progress(f"N = {n}: starting {n} serving SmolLM2 node(s) and a light entry node")
            nodes = net.up(n, profile="small", light=1, threads=1, extra_args=set_args(SETTINGS), progress=progress)
            entry = nodes[-1]
            phase = LoadPhase(peers=n, clients=clients_per_peer * n, load_before=uptime())
            phase.calls = drive(entry.api, clients=phase.clients, seconds=seconds, max_tokens=max_tokens,
                                warmup=2 * n)
            phase.load_after = uptime()
            result.phases.append(phase)
            s = phase.summary()
            progress(f"N = {n}: {s['answers']} answers in {s['seconds']} s = {s['throughput_per_s']}/s, "
                     f"p95 {s['latency_ms_p95']} ms, spread {s['answers_per_peer']}, errors {s['errors']}")
        finally:
            net.down(progress=lambda _m: None)
    return result


def format_markdown(result: LoadBenchResult, command: str) -> str:
    s = result.summary()
    lines = [
        "# Load: concurrent clients against one entry node",
        "",
        f"Command: `{command}`" if command else "",
        "",
        f"One light entry node; N SmolLM2 serving peers at one llama.cpp thread each; "
        f"{result.clients_per_peer} clients per serving peer asking back to back for {result.seconds:.0f} s; "
        f"{result.max_tokens}-token answers (`mode=route`); {s['cpus']} CPUs. Efficiency = "
        f"throughput(N) / (N x throughput(1)), the N = 1 row being the in-run baseline (goal >= "
        f"{GOAL_EFFICIENCY}).",
        "",
        "| serving peers | clients | answers | answers/s | speedup | efficiency | p50 ms | p95 ms | answers per peer | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in s["phases"]:
        spread = ", ".join(f"{k}: {v}" for k, v in r["answers_per_peer"].items())
        lines.append(f"| {r['peers']} | {r['clients']} | {r['answers']} | {r['throughput_per_s']} | {r['speedup']} | "
                     f"{r['efficiency']} | {r['latency_ms_p50']} | {r['latency_ms_p95']} | {spread} | {r['errors']} |")
    lines += ["", "Machine load (`uptime`) before and after each N:", ""]
    for r in s["phases"]:
        lines.append(f"- N = {r['peers']}: before `{r['load_before']}`; after `{r['load_after']}`")
    return "\n".join(lines) + "\n"


def write_results(result: LoadBenchResult, out: Path, command: str, *, show: bool = False) -> str:
    """The run's JSON and markdown report (``write_bench_results``); returns the markdown."""
    return write_bench_results(out, {**result.to_json(), "command": command}, format_markdown(result, command), show=show)


def _peer_counts(text: str) -> list[int]:
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise ValueError(f"--peers takes comma-separated counts such as 1,2,4, got {text!r}") from exc
    if not counts or any(c < 1 for c in counts):
        raise ValueError(f"--peers takes counts >= 1, got {text!r}")
    return counts


def cmd_bench_load(args: Any) -> int:
    import shlex
    import sys

    from .errors import TestnetError

    try:
        peers = _peer_counts(args.peers)
    except ValueError as exc:
        raise TestnetError(str(exc)) from exc
    command = "peermind " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else ""
    result = run_load_benchmark(peers=peers, clients_per_peer=args.clients_per_peer, seconds=args.seconds,
                                max_tokens=args.max_tokens, workdir=args.dir,
                                progress=lambda m: print(f"  {m}", file=sys.stderr, flush=True))
    write_results(result, args.out, command, show=True)
    return 0


def add_parser(bench: Any) -> None:
    p = bench.add_parser(
        "load", help="throughput and p95 latency of one entry node with 1, 2, 4 serving peers under concurrent clients",
        description="For each peer count, starts a testnet of N SmolLM2 serving nodes (1 thread each) and one "
                    "light entry node, drives it with concurrent clients asking short questions, and reports "
                    "answers/s, latency p50/p95, how answers spread over the peers, and the scaling efficiency "
                    "against N = 1 in the same run. Load (uptime) is recorded around each phase.",
    )
    p.add_argument("--peers", default="1,2,4", help="serving-peer counts, comma-separated (default 1,2,4)")
    p.add_argument("--clients-per-peer", type=int, default=2, help="concurrent clients per serving peer (default 2)")
    p.add_argument("--seconds", type=float, default=60.0, help="measuring time per peer count (default 60)")
    p.add_argument("--max-tokens", type=int, default=16, help="tokens per answer (default 16)")
    p.add_argument("--dir", type=Path, help="where the testnets live (default: a temporary directory)")
    p.add_argument("--out", type=Path, default=Path("docs/results/load-bench.json"), help="results JSON (.md beside it)")
    p.set_defaults(func=cmd_bench_load)
