"""``peermind bench scale``: many peers on one machine, mostly light nodes (``--model none``).

Two testnets in one run, the small one the baseline for the big one (same machine, same
load, same code): by default 2 SmolLM2 nodes + 1 light node, then 5 SmolLM2 nodes + 45
light nodes. For each:

- ad convergence: seconds from "every node ready" until every node holds every other's
  ad (``Testnet.wait_converged``), and the start-up time before it;
- peer traffic per node at idle: bytes sent + received on its libp2p sockets over
  ``--idle-s`` seconds, from the kernel's TCP counters (``_traffic.py``): gossip (ads,
  trust opinions), DHT, identify and ping;
- memory per node (RSS and PSS, light and model nodes apart) and idle CPU per node.

The machine load (``uptime``) before and after is part of the report. Nothing here is a
test: figures on a shared 2-core machine are noisy, so they are reported with the
baseline's, and ratios are what compare.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from . import _traffic
from ._bench_results import write_bench_results
from ._launcher import Progress, Testnet
from ._profiles import BENCH_NODE_SETTINGS, set_args
from ._state import NodeInfo
from ._status import memory_mb
from .errors import ConvergenceTimeout, TestnetError

CONVERGE_GOAL_S = 10.0


@dataclass(frozen=True)
class ScaleSettings:
    models: int = 5
    light: int = 45
    base_models: int = 2
    base_light: int = 1
    idle_s: float = 30.0
    out: Path | None = None
    testnet_dir: Path | None = None


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _ads_held(nodes: list[NodeInfo]) -> float:
    """Share of the (n - 1) x n ads that nodes hold right now."""
    import httpx

    held = 0
    with httpx.Client(timeout=20.0) as http:
        for node in nodes:
            try:
                held += len(http.get(f"{node.api_url}/peermind/peers").json()["peers"])
            except (httpx.HTTPError, ValueError, KeyError):
                pass
    return round(held / max(1, len(nodes) * (len(nodes) - 1)), 3)


def measure_net(net: Testnet, models: int, light: int, idle_s: float, progress: Progress,
                converge_timeout_s: float = 180.0) -> dict[str, Any]:
    """Start the testnet, measure it at idle and leave it running (the caller takes it down)."""
    load_before = uptime()
    nodes = net.up(models, profile="small", threads=1, light=light, progress=progress, converge=False,
                   timeout_s=max(180.0, 8.0 * (models + light)), extra_args=set_args(BENCH_NODE_SETTINGS))
    procs = {x.pid: psutil.Process(x.pid) for x in nodes}
    cpu_before, machine_before, started = _cpu_seconds(procs), psutil.cpu_times(), time.monotonic()
    try:
        converge_s: float | None = round(net.wait_converged(nodes, timeout_s=converge_timeout_s, progress=progress), 2)
    except ConvergenceTimeout:
        converge_s = None  # memory and traffic are still measured; the report says how far ads got
    window_s = max(time.monotonic() - started, 1e-3)
    cpu_after, machine_after = _cpu_seconds(procs), psutil.cpu_times()
    converge_cpu = {pid: 100.0 * (cpu_after[pid] - cpu_before[pid]) / window_s
                    for pid in procs if pid in cpu_after and pid in cpu_before}
    held = _ads_held(nodes)
    pids = {x.pid for x in nodes}
    api_ports = {int(x.api.rsplit(":", 1)[1]) for x in nodes if x.api}
    _cpu_percent(procs)  # starts psutil's per-process interval
    before = _traffic.snapshot(pids, api_ports)
    time.sleep(idle_s)
    after = _traffic.snapshot(pids, api_ports)
    cpu = _cpu_percent(procs)
    traffic = _traffic.bytes_per_pid(before, after)
    memory = {x.pid: memory_mb(x.pid) for x in nodes}
    peers = _peer_counts(after, nodes)
    return {
        "models": models,
        "light": light,
        "nodes": len(nodes),
        "load_before": load_before,
        "load_after": uptime(),
        "ready_s": round(net.last_up["ready_s"], 2),
        "converge_s": converge_s,
        "converge_timeout_s": converge_timeout_s,
        "ads_held_share": held,
        # Where the convergence time goes: CPU the nodes used while ads spread, and how busy the machine was.
        "converge_cpu_pct_per_node": {kind: _median([converge_cpu[x.pid] for x in group if x.pid in converge_cpu])
                                      for kind, group in _kinds(nodes).items()},
        "converge_machine_busy_pct": _busy_pct(machine_before, machine_after),
        "idle_window_s": idle_s,
        "traffic_bytes_per_s_per_node": {kind: _median([traffic.get(x.pid, 0) / idle_s for x in group])
                                         for kind, group in _kinds(nodes).items()},
        "traffic_bytes_per_s_per_node_max": round(max(traffic.values(), default=0) / idle_s, 1),
        "connections_per_node_median": _median([float(c) for c in peers.values()]),
        "rss_mb_per_node": {kind: _median([m for x in group if (m := memory[x.pid][0]) is not None])
                            for kind, group in _kinds(nodes).items()},
        "pss_mb_per_node": {kind: _median([m for x in group if (m := memory[x.pid][1]) is not None])
                            for kind, group in _kinds(nodes).items()},
        "pss_mb_total": round(sum(m[1] or 0.0 for m in memory.values()), 1),
        "idle_cpu_pct_per_node": {kind: _median([cpu[x.pid] for x in group if x.pid in cpu])
                                  for kind, group in _kinds(nodes).items()},
        # A node that exits during the run is a finding, not a reason to lose the run's figures.
        "nodes_died": [x.name for x in nodes if not x.alive()],
    }


def _cpu_percent(procs: dict[int, psutil.Process]) -> dict[int, float]:
    """psutil's CPU % of each live node process since the last call (the dead left out)."""
    out = {}
    for pid, proc in procs.items():
        try:
            out[pid] = proc.cpu_percent(None)
        except psutil.Error:
            continue
    return out


def _cpu_seconds(procs: dict[int, psutil.Process]) -> dict[int, float]:
    """User + system CPU seconds each live node process has used so far."""
    out = {}
    for pid, proc in procs.items():
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        out[pid] = times.user + times.system
    return out


def _busy_pct(before: Any, after: Any) -> float:
    """Share of the machine's CPU time (all cores) not idle between two ``psutil.cpu_times()``."""
    total = sum(after) - sum(before)
    idle = (after.idle + getattr(after, "iowait", 0.0)) - (before.idle + getattr(before, "iowait", 0.0))
    return round(100.0 * (total - idle) / total, 1) if total > 0 else 0.0


def _kinds(nodes: list[NodeInfo]) -> dict[str, list[NodeInfo]]:
    light = [x for x in nodes if x.model == "none"]
    model = [x for x in nodes if x.model != "none"]
    return {k: v for k, v in (("light", light), ("model", model)) if v}


def _peer_counts(sockets: dict[_traffic.SocketKey, _traffic.SocketBytes], nodes: list[NodeInfo]) -> dict[int, int]:
    counts = {x.pid: 0 for x in nodes}
    for pid, _local, _remote in sockets:
        counts[pid] = counts.get(pid, 0) + 1
    return counts


def run_scale(settings: ScaleSettings, progress: Progress) -> dict[str, Any]:
    root = settings.testnet_dir or Path(tempfile.mkdtemp(prefix="peermind-scale-"))
    report: dict[str, Any] = {
        "command": "peermind bench scale " + " ".join([
            f"--models {settings.models}", f"--light {settings.light}", f"--idle-s {settings.idle_s:g}",
            *([f"--out {settings.out}"] if settings.out else [])]),
        "machine": {"cpus": psutil.cpu_count(), "ram_mb": round(psutil.virtual_memory().total / 2**20)},
        "runs": [],
    }
    for name, models, light in (("baseline", settings.base_models, settings.base_light),
                                ("scale", settings.models, settings.light)):
        net = Testnet(root / name)
        progress(f"{name}: {models} model nodes + {light} light nodes ...")
        try:
            row = measure_net(net, models, light, settings.idle_s, progress)
        except TestnetError as exc:
            row = {"models": models, "light": light, "failed": str(exc).splitlines()[0]}
        finally:
            net.down(progress=progress)
        row["name"] = name
        report["runs"].append(row)
        progress(f"{name}: {json.dumps(row)}")
    base, big = report["runs"]
    if "ready_s" in base and "ready_s" in big:
        report["ratios"] = {
            "converge_s": (round(big["converge_s"] / max(base["converge_s"], 1e-3), 2)
                           if big["converge_s"] is not None and base["converge_s"] is not None else None),
            "traffic_per_light_node": _ratio(big, base, "traffic_bytes_per_s_per_node", "light"),
            "traffic_per_model_node": _ratio(big, base, "traffic_bytes_per_s_per_node", "model"),
            "rss_per_light_node": _ratio(big, base, "rss_mb_per_node", "light"),
        }
        report["goals"] = {"converge_under_10s": big["converge_s"] is not None and big["converge_s"] < CONVERGE_GOAL_S}
    if settings.out:
        write_bench_results(settings.out, report, markdown(report))
    return report


def _ratio(big: dict[str, Any], base: dict[str, Any], key: str, kind: str) -> float | None:
    a, b = big.get(key, {}).get(kind), base.get(key, {}).get(kind)
    return round(a / b, 2) if a is not None and b else None


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Many peers on one machine (`{report['command']}`)", "",
             f"Machine: {report['machine']['cpus']} CPUs, {report['machine']['ram_mb']} MiB RAM (shared).", "",
             "| run | nodes (model + light) | ready s | converge s | traffic B/s/node light / model | "
             "RSS MiB/node light / model | PSS MiB total | idle CPU %/node light / model | conns/node | load before -> after |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["runs"]:
        if "failed" in r:
            lines.append(f"| {r['name']} | {r['models']} + {r['light']} | failed: {r['failed']} |||||||||")
            continue
        t, m, c = r["traffic_bytes_per_s_per_node"], r["rss_mb_per_node"], r["idle_cpu_pct_per_node"]
        lines.append(
            f"| {r['name']} | {r['models']} + {r['light']} | {r['ready_s']} | {_converged(r)} | "
            f"{t.get('light')} / {t.get('model')} | {m.get('light')} / {m.get('model')} | {r['pss_mb_total']} | "
            f"{c.get('light')} / {c.get('model')} | {r['connections_per_node_median']} | "
            f"{_load(r['load_before'])} -> {_load(r['load_after'])} |")
    for r in report["runs"]:
        if r.get("nodes_died"):
            lines.append(f"\n**Nodes that exited during the run ({r['name']}):** {', '.join(r['nodes_died'])} "
                         "(their logs say why; figures are over the live ones).")
    for r in report["runs"]:
        busy = r.get("converge_machine_busy_pct")
        if busy is not None:
            c = r.get("converge_cpu_pct_per_node", {})
            lines.append(f"\nWhile ads spread ({r['name']}): machine {busy}% busy (all cores); CPU % per node, "
                         f"median, light / model: {c.get('light')} / {c.get('model')}.")
    if "ratios" in report:
        lines += ["", "Ratios, scale run / baseline run (same machine, same code): "
                  + ", ".join(f"{k} {v}" for k, v in report["ratios"].items()) + ".",
                  f"Goal (convergence under {CONVERGE_GOAL_S:g} s): "
                  f"{'met' if report['goals']['converge_under_10s'] else 'not met'}."]
    return "\n".join(lines) + "\n"


def _converged(r: dict[str, Any]) -> str:
    if r["converge_s"] is not None:
        return str(r["converge_s"])
    return f"not in {r['converge_timeout_s']:g} s ({r['ads_held_share']:.1%} of ads held)"


def _load(text: str) -> str:
    return text.split("load average:")[-1].strip().split(",")[0] if "load average" in text else text
