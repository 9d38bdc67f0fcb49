"""Federated training across real node processes: round time, memory, and the router it yields.

For each network size the harness starts a testnet of SmolLM2 nodes (threads
1), gives each node its non-IID share of the real-outcome feedback rows (a
feedback import: rows written into the node's own SQLite store, which the
node reads at every training message), and has node-0 coordinate one run
per engine through the HTTP API, as ``peermind train start`` does.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import psutil
from peermind.bench import Item
from peermind.federated import RouterModel
from peermind.node.extension import Store

from .._launcher import NodeInfo, Testnet
from ._dataset import BenchData
from ._experiments import SCHEMA, score_router
from ._outcomes import Progress
from .errors import ExperimentFailed


def seed_node(data_dir: Path, data: BenchData, items: Sequence[Item]) -> int:
    """Write the node's feedback rows into its store (mode ``bench``: split by query id)."""
    store = Store.open(data_dir / "node.db")
    try:
        rows = data.rows(items)
        for row in rows:
            store.add_feedback(query_embedding=row.embedding, query_id=row.query_id,
                               model_key=row.model_key, correct=row.correct, mode="bench")
    finally:
        store.close()
    return len(rows)


def _tree_rss_mb(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def _node_rss_mb(pid: int) -> float:
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return 0.0


def run_engine(nodes: list[NodeInfo], data: BenchData, *, engine: str, rounds: int,
               round_timeout_s: float, progress: Progress) -> dict[str, Any]:
    coordinator = nodes[0]
    body = {"rounds": rounds, "min_nodes": len(nodes), "engine": engine,
            "round_timeout_s": round_timeout_s, "adopt": True}
    peak_node: dict[str, float] = {}
    peak_tree: dict[str, float] = {}
    with httpx.Client(timeout=30.0) as http:
        started = time.monotonic()
        reply = http.post(f"{coordinator.api_url}/peermind/train/start", json=body)
        if reply.status_code != 202:
            raise ExperimentFailed(f"train start on {coordinator.name} failed: {reply.text}")
        run_id = reply.json()["run_id"]
        shown = 0
        while True:
            run = http.get(f"{coordinator.api_url}/peermind/train/status", params={"run_id": run_id}).json()["run"]
            for node in nodes:
                peak_node[node.name] = max(peak_node.get(node.name, 0.0), _node_rss_mb(node.pid))
                peak_tree[node.name] = max(peak_tree.get(node.name, 0.0), _tree_rss_mb(node.pid))
            for rd in run["rounds"][shown:]:
                progress(f"  {engine} {len(nodes)} nodes: round {rd['round']}/{rounds} in {rd['duration_s']:.1f} s")
            shown = len(run["rounds"])
            if run["state"] in ("done", "failed"):
                break
            time.sleep(0.5)
        wall = time.monotonic() - started
    if run["state"] != "done":
        raise ExperimentFailed(f"{engine} run on {len(nodes)} nodes failed: {run['error']}")
    durations = [rd["duration_s"] for rd in run["rounds"]]
    final = RouterModel.load(run["final_router"], SCHEMA)
    score = score_router(final, data, data.test)
    return {
        "engine": engine, "nodes": len(nodes), "rounds": rounds,
        "round_s": [round(d, 2) for d in durations],
        "mean_round_s": round(statistics.fmean(durations), 2),
        "run_wall_s": round(wall, 1),
        "setup_s": round(wall - sum(durations), 1),
        "node_rss_mb_peak": {k: round(v, 1) for k, v in peak_node.items()},
        "node_rss_mb_median": round(statistics.median(peak_node.values()), 1),
        "node_with_flower_rss_mb_median": round(statistics.median(peak_tree.values()), 1),
        "adopted": sum(1 for d in run["adoption"].values() if d.get("adopted")),
        "engine_info": {k: v for k, v in run["engine"].items() if k != "run_dir"},
        "federated_router": score.to_json(),
    }


def network_runs(data: BenchData, parts_for: Any, *, sizes: Sequence[int], engines: Sequence[str],
                 rounds: dict[str, int], workdir: Path, progress: Progress,
                 round_timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """One testnet per size; one run per engine on it."""
    results = []
    for size in sizes:
        net = Testnet(workdir / f"net-{size}")
        progress(f"starting {size} SmolLM2 nodes (threads 1)")
        try:
            nodes = net.up(size, profile="small", threads=1, progress=lambda m: progress(f"  {m}"))
            for node, items in zip(nodes, parts_for(size), strict=True):
                seed_node(Path(node.data_dir), data, items)
            idle = {n.name: round(_node_rss_mb(n.pid), 1) for n in nodes}
            for engine in engines:
                result = run_engine(nodes, data, engine=engine, rounds=rounds[engine],
                                    round_timeout_s=round_timeout_s, progress=progress)
                result["node_rss_mb_idle"] = idle
                results.append(result)
        finally:
            net.down(progress=lambda m: progress(f"  {m}"))
    return results


def poisoned_network_run(data: BenchData, parts: Sequence[Sequence[Item]], *, rounds: int,
                         strategies: Sequence[str], workdir: Path, progress: Progress,
                         round_timeout_s: float = 30.0) -> dict[str, Any]:
    """One testnet whose node-1 is a ``poisoner`` (peermind.testnet.adversary); engine p2p.

    The coordinator (node-0) runs one run per strategy, in the given order, with
    reputation from its own trust module (``node.reputation``), which learns
    from the ``update_outlier`` evidence the rounds produce.
    """
    size = len(parts)
    net = Testnet(workdir / "net-poisoned")
    roles = [""] * size
    roles[1] = "poisoner"
    progress(f"starting {size} SmolLM2 nodes, node-1 a poisoner (-10·w + 5)")
    out: dict[str, Any] = {"nodes": size, "attacker": "node-1", "rounds": rounds, "runs": []}
    try:
        nodes = net.up(size, profile="small", threads=1, roles=roles, progress=lambda m: progress(f"  {m}"))
        for node, items in zip(nodes, parts, strict=True):
            seed_node(Path(node.data_dir), data, items)
        attacker = nodes[1].peer_id
        for strategy in strategies:
            with httpx.Client(timeout=30.0) as http:
                reply = http.post(f"{nodes[0].api_url}/peermind/train/start", json={
                    "rounds": rounds, "min_nodes": size - 1, "strategy": strategy,
                    "round_timeout_s": round_timeout_s, "adopt": False})
                if reply.status_code != 202:
                    raise ExperimentFailed(f"train start failed: {reply.text}")
                run_id = reply.json()["run_id"]
                while True:
                    run = http.get(f"{nodes[0].api_url}/peermind/train/status", params={"run_id": run_id}).json()["run"]
                    if run["state"] in ("done", "failed"):
                        break
                    time.sleep(0.5)
            if run["state"] != "done":
                raise ExperimentFailed(f"poisoned {strategy} run failed: {run['error']}")
            scales = [rd["clipped"].get(attacker, 1.0) for rd in run["rounds"] if attacker in rd["participants"]]
            excluded = sum(1 for rd in run["rounds"] if attacker in rd["excluded"])
            score = score_router(RouterModel.load(run["final_router"], SCHEMA), data, data.test)
            progress(f"  poisoned network, {strategy}: choice accuracy {100 * score.choice_accuracy:.1f}%")
            out["runs"].append({
                "strategy": strategy, "federated_router": score.to_json(),
                "attacker_rounds_excluded": excluded,
                "attacker_mean_scale": round(statistics.fmean(scales), 4) if scales else None,
                "attacker_last_scale": scales[-1] if scales else None,
            })
    finally:
        net.down(progress=lambda m: progress(f"  {m}"))
    return out
