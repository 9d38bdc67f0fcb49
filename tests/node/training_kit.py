"""Helpers for the training integration tests: seed a node's store before it starts.

The rows are the federated package's seeded synthetic feedback (clustered
384-d embeddings, non-IID across nodes, one outcome per model and query), so
the tests exercise the real store, daemons, transport and Flower without
spending minutes on LLM scoring (the benchmark uses real outcomes).
"""

from __future__ import annotations

from pathlib import Path

from peermind.federated import FeedbackRow
from peermind.federated._synthetic import make_task, node_datasets
from peermind.node.store import Store

MODEL_KEYS = ("smollm2", "gemma3-270m")


def synthetic_rows(nodes: int, *, queries_per_node: int = 60, seed: int = 0) -> list[list[FeedbackRow]]:
    """Per node: its train and validation rows together (the node splits them by query id)."""
    task = make_task(MODEL_KEYS, seed=seed)
    data = node_datasets(task, nodes, queries_per_node=queries_per_node, seed=seed + 1)
    return [list(train) + list(val) for train, val in data]


def seed_store(data_dir: Path, rows: list[FeedbackRow], *, prefix: str) -> int:
    """Write ``rows`` as labelled feedback into ``data_dir/node.db`` (created if missing)."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = Store.open(data_dir / "node.db")
    try:
        for row in rows:
            store.add_feedback(
                query_embedding=row.embedding, query_id=f"{prefix}:{row.query_id}",
                model_key=row.model_key, correct=row.correct, mode="organic",
            )
    finally:
        store.close()
    return len(rows)


def start_seeded(cluster, count: int, *, queries_per_node: int = 60, extra: dict[int, list[str]] | None = None):  # type: ignore[no-untyped-def]
    """``count`` seeded nodes (node-0 bootstraps the rest), converged; returns them."""
    from nodeproc import wait_for

    data = synthetic_rows(count, queries_per_node=queries_per_node)
    for i in range(count):
        seed_store(cluster.root / f"node-{i}", data[i], prefix=f"node-{i}")
    first = cluster.start("node-0", extra=(extra or {}).get(0, []))
    rest = [cluster.spawn(f"node-{i}", bootstrap=first.addrs, extra=(extra or {}).get(i, []))
            for i in range(1, count)]
    nodes = [first, *[n.wait_ready() for n in rest]]
    wait_for(lambda: all(len(n.peers()) == count - 1 for n in nodes), timeout_s=60, what="ads converge")
    return nodes


def wait_run(node, run_id: str, *, timeout_s: float = 120.0, audit: bool = False):  # type: ignore[no-untyped-def]
    """Poll the coordinator until run ``run_id`` is done or failed; returns the run JSON."""
    from nodeproc import wait_for

    def finished():  # type: ignore[no-untyped-def]
        run = node.get(f"/peermind/train/status?run_id={run_id}{'&audit=1' if audit else ''}").json()["run"]
        return run if run["state"] in ("done", "failed") else None

    return wait_for(finished, timeout_s=timeout_s, interval_s=0.2, what=f"run {run_id} to finish")
