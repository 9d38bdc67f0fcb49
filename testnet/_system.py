"""``peermind bench system``: how the network itself performs, on real node processes.

Each figure comes with a baseline measured in the same run, so a busy shared machine
shifts both sides alike:

- ad convergence vs N: seconds from "every node ready" until every node holds every
  other node's ad, for each N, as a ratio to the smallest N. Also start-up time and
  memory (RSS; PSS, which splits the memory-mapped model pages between the processes
  sharing them) and idle CPU per node, from which the nodes-per-machine estimate follows.
- task round-trip: the same tiny scoring job through the entry node's API, run locally
  (peer = the entry node) and on a remote peer serving the same model; the difference
  is what the network path (signed envelopes, libp2p stream, the remote's queue) adds.
  (``peermind bench node`` measures the same path against llama.cpp called directly.)
- envelope throughput: ``peermind.protocol.benchmark``, sign+verify of a typical
  TaskRequest envelope against raw Ed25519 on the same bytes.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from peermind.node.client import NodeClient
from rich.console import Console
from rich.table import Table

from ._launcher import Testnet
from ._profiles import BENCH_NODE_SETTINGS, set_args
from ._scale import uptime
from ._state import NodeInfo
from ._status import memory_mb
from .errors import TestnetError

SMALL_ABOVE = 6  # above this many nodes: small profile, one thread each (2 cores)
IDLE_SAMPLE_S = 3.0
IDLE_CPU_BASIS = (f"the mean over the nodes of {IDLE_SAMPLE_S:g} s right after the ads converged; a node's start-up "
                  "trust probes begin once it heard no new peer's ad for a few seconds, so mostly after this sample")
"""Said beside the idle figure: a node's join work (start-up probes, then idle learning) mostly comes after the sample."""
ROUNDTRIP_CONTEXT = "Question: What is 2 + 2?\nAnswer:"
ROUNDTRIP_CHOICES = [" 4", " 5"]


@dataclass
class SystemSettings:
    sizes: list[int] = field(default_factory=lambda: [3, 5, 10, 20])
    repeats: int = 20
    envelope_seconds: float = 2.0
    out: Path | None = None
    testnet_dir: Path | None = None
    only: list[str] | None = None


# ------------------------------------------------------------------ convergence
def measure_size(net: Testnet, n: int) -> dict[str, Any]:
    """Start ``n`` nodes, record start-up, convergence, memory and idle CPU; leave them running."""
    profile, threads = ("small", 1) if n > SMALL_ABOVE else ("mix", None)
    load_before = uptime()
    available_before = psutil.virtual_memory().available
    nodes = net.up(n, profile=profile, threads=threads, timeout_s=max(180.0, 15.0 * n),
                   extra_args=set_args(BENCH_NODE_SETTINGS))
    memory = [memory_mb(x.pid) for x in nodes]
    rss = [m[0] for m in memory if m[0] is not None]
    pss = [m[1] for m in memory if m[1] is not None]
    procs = [psutil.Process(x.pid) for x in nodes]
    for p in procs:
        p.cpu_percent(None)
    time.sleep(IDLE_SAMPLE_S)
    idle_cpu = [p.cpu_percent(None) for p in procs]
    return {
        "n": n,
        "profile": profile,
        "threads": threads or "profile default",
        "ready_s": round(net.last_up["ready_s"], 2),
        "converge_s": round(net.last_up["converge_s"], 2),
        "rss_mb_median": round(statistics.median(rss), 1),
        "pss_mb_median": round(statistics.median(pss), 1) if pss else None,
        "pss_mb_total": round(sum(pss), 1) if pss else None,
        "rss_mb_by_model": _by_model(nodes, rss),
        "pss_mb_by_model": _by_model(nodes, pss),
        "used_mb": round((available_before - psutil.virtual_memory().available) / 2**20, 1),
        "idle_cpu_pct_per_node": round(statistics.mean(idle_cpu), 2),
        "load_before": load_before,
        "load_after": uptime(),
    }


def _by_model(nodes: list[NodeInfo], values: list[float]) -> dict[str, float]:
    groups: dict[str, list[float]] = {}
    for node, value in zip(nodes, values, strict=False):
        groups.setdefault(node.model, []).append(value)
    return {model: round(statistics.median(v), 1) for model, v in groups.items()}


def fits(n: int, per_node_mb: float) -> tuple[bool, float]:
    """Whether ``n`` more nodes of ``per_node_mb`` fit in available memory (keeping 20% spare)."""
    available = psutil.virtual_memory().available / 2**20
    return n * per_node_mb <= 0.8 * available, available


# ------------------------------------------------------------------ round trip
def measure_roundtrip(nodes: list[NodeInfo], repeats: int) -> dict[str, Any]:
    """Median/p95 latency of a tiny scoring job run locally vs on a remote peer with the same model."""
    entry = nodes[0]
    remote = next((x for x in nodes[1:] if x.model == entry.model), None)
    if remote is None:
        raise TestnetError("the round-trip benchmark needs two nodes serving the same model")
    local_ms: list[float] = []
    remote_ms: list[float] = []
    with NodeClient(entry.api, timeout_s=60) as client:
        for peer in (entry, remote):  # warm both paths (connection, KV cache)
            client.score(ROUNDTRIP_CONTEXT, ROUNDTRIP_CHOICES, peer=peer.peer_id)
        for _ in range(repeats):  # interleaved, so load from other processes hits both alike
            for peer, sink in ((entry, local_ms), (remote, remote_ms)):
                started = time.perf_counter()
                client.score(ROUNDTRIP_CONTEXT, ROUNDTRIP_CHOICES, peer=peer.peer_id)
                sink.append((time.perf_counter() - started) * 1000)
    local_med, remote_med = statistics.median(local_ms), statistics.median(remote_ms)
    return {
        "model": entry.model,
        "repeats": repeats,
        "local_median_ms": round(local_med, 1),
        "local_p95_ms": round(_p95(local_ms), 1),
        "remote_median_ms": round(remote_med, 1),
        "remote_p95_ms": round(_p95(remote_ms), 1),
        "overhead_median_ms": round(remote_med - local_med, 1),
        "ratio": round(remote_med / local_med, 2),
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


# ------------------------------------------------------------------ run
def run_system(settings: SystemSettings, console: Console | None = None) -> dict[str, Any]:
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=150)
    parts = settings.only or ["convergence", "roundtrip", "envelope"]
    own_dir = settings.testnet_dir is None
    root = settings.testnet_dir or Path(tempfile.mkdtemp(prefix="peermind-system-"))
    report: dict[str, Any] = {
        "command": "peermind bench system " + " ".join([
            f"--sizes {','.join(map(str, settings.sizes))}", *(f"--only {p}" for p in settings.only or []),
            *([f"--out {settings.out}"] if settings.out else [])]),
        "machine": {"cpus": psutil.cpu_count(), "ram_mb": round(psutil.virtual_memory().total / 2**20)}}
    try:
        if "convergence" in parts or "roundtrip" in parts:
            sizes = sorted(set(settings.sizes)) if "convergence" in parts else [3]
            report.update(_run_sizes(root, sizes, settings.repeats if "roundtrip" in parts else 0, console))
        if "envelope" in parts:
            from peermind.protocol.benchmark import run_envelope_benchmark

            console.print(f"envelope throughput ({settings.envelope_seconds:g} s)...")
            report["envelope"] = run_envelope_benchmark(settings.envelope_seconds)
    finally:
        if own_dir:
            shutil.rmtree(root, ignore_errors=True)
    _print(report, console)
    if settings.out:
        settings.out.parent.mkdir(parents=True, exist_ok=True)
        settings.out.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {settings.out}")
    return report


def _run_sizes(root: Path, sizes: list[int], repeats: int, console: Console) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    out: dict[str, Any] = {"convergence": rows}
    per_node_mb = 0.0
    for n in sizes:
        if per_node_mb:
            ok, available = fits(n, per_node_mb)
            if not ok:
                rows.append({"n": n, "skipped": f"does not fit: ~{n * per_node_mb:.0f} MiB needed "
                                                 f"(PSS {per_node_mb:.0f} MiB/node), {available:.0f} MiB available"})
                console.print(f"[yellow]N={n}: {rows[-1]['skipped']}[/]")
                continue
        net = Testnet(root / f"n{n}")
        console.print(f"N={n}: starting...")
        try:
            row = measure_size(net, n)
            _, nodes = net.load()
            if repeats and "roundtrip" not in out and n >= 3:
                console.print(f"N={n}: task round trip x{repeats}...")
                out["roundtrip"] = measure_roundtrip(nodes, repeats)
        except TestnetError as exc:
            row = {"n": n, "failed": str(exc).splitlines()[0]}
        finally:
            net.down()
        rows.append(row)
        console.print(f"N={n}: {row}")
        if row.get("pss_mb_by_model"):
            per_node_mb = max(per_node_mb, *row["pss_mb_by_model"].values())
    measured = [r for r in rows if "converge_s" in r]
    if measured:
        base = measured[0]["converge_s"] or 1e-9
        for r in measured:
            r[f"ratio_vs_n{measured[0]['n']}"] = round(r["converge_s"] / base, 2)
        small = [r for r in measured if r["profile"] == "small"] or measured
        last = small[-1]
        per_mb = last["pss_mb_by_model"].get("smollm2") or last["rss_mb_by_model"].get("smollm2") or last["rss_mb_median"]
        out["capacity"] = {
            "pss_mb_per_small_node": per_mb,
            "nodes_fitting_in_ram": int(0.8 * psutil.virtual_memory().total / 2**20 // per_mb),
            "basis": f"80% of RAM / median PSS of a SmolLM2 node at N={last['n']}",
            "idle_cpu_pct_per_node": last["idle_cpu_pct_per_node"],
            # What the idle figure holds and what it leaves out (a network's first minute costs more).
            "idle_cpu_basis": IDLE_CPU_BASIS,
            # Idle nodes still gossip, republish ads and exchange trust opinions.
            "idle_nodes_fitting_in_cpu": int((psutil.cpu_count() or 1) * 100 // max(last["idle_cpu_pct_per_node"], 0.1)),
        }
    return out


def _print(report: dict[str, Any], console: Console) -> None:
    rows = report.get("convergence") or []
    if rows:
        table = Table(title="ad convergence vs N (ratio against the smallest N in this run)")
        for col in ("N", "profile", "ready s", "converge s", "ratio", "RSS MiB/node", "PSS MiB/node", "PSS total MiB", "idle CPU %/node"):
            table.add_column(col)
        for r in rows:
            if "converge_s" not in r:
                table.add_row(str(r["n"]), r.get("skipped") or r.get("failed", ""), *[""] * 7)
                continue
            ratio = next((v for k, v in r.items() if k.startswith("ratio_vs_")), "")
            table.add_row(str(r["n"]), r["profile"], f"{r['ready_s']:.1f}", f"{r['converge_s']:.2f}", f"{ratio}",
                          f"{r['rss_mb_median']:.0f}", f"{r['pss_mb_median'] or 0:.0f}", f"{r['pss_mb_total'] or 0:.0f}",
                          f"{r['idle_cpu_pct_per_node']:.1f}")
        console.print(table)
    if "capacity" in report:
        c = report["capacity"]
        console.print(f"capacity: ~{c['nodes_fitting_in_ram']} SmolLM2 nodes fit in RAM ({c['basis']}); "
                      f"idle CPU {c['idle_cpu_pct_per_node']:.1f}% of a core per node, so ~{c['idle_nodes_fitting_in_cpu']} "
                      f"idle nodes saturate the CPUs (answering nodes need far more); idle CPU is {c['idle_cpu_basis']}")
    if "roundtrip" in report:
        r = report["roundtrip"]
        console.print(f"task round trip ({r['model']}, x{r['repeats']}): local {r['local_median_ms']:.0f} ms "
                      f"(p95 {r['local_p95_ms']:.0f}), remote {r['remote_median_ms']:.0f} ms (p95 {r['remote_p95_ms']:.0f}); "
                      f"network adds {r['overhead_median_ms']:.0f} ms, ratio {r['ratio']:.2f} vs local")
    if "envelope" in report:
        from peermind.protocol.benchmark import format_table

        console.print("envelope throughput (ratio = envelope / raw Ed25519 sign+verify):")
        console.print(format_table(report["envelope"]))
