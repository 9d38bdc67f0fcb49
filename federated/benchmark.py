"""Benchmarks of the federated engine and the routing hot path.

python -m peermind.federated.benchmark            # both, JSON on stdout
python -m peermind.federated.benchmark rounds     # in-process rounds only
python -m peermind.federated.benchmark embedding  # MiniLM latency only
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._client_app import RowsProvider, make_client_app
from ._federated_client import FederatedClient
from ._in_process import InProcessTransport
from ._router import RouterModel
from ._schema import FeatureSchema, FeedbackRow
from ._synthetic import make_task, node_datasets, sample_rows
from ._training import RoundEvent, run_training


def _fixed_rows(train: list[FeedbackRow], val: list[FeedbackRow]) -> RowsProvider:
    return lambda: (train, val)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def run_round_benchmark(
    nodes: int = 8,
    rounds: int = 3,
    *,
    strategy: str = "fedavg",
    queries_per_node: int = 60,
    seed: int = 0,
) -> dict[str, Any]:
    """Time ``rounds`` federated rounds with ``nodes`` in-process peers on synthetic data.

    Everything real except the network hop: Flower serialisation, ClientApp,
    strategy, P2PGrid with its thread pool. Returns seconds per round and the
    router's held-out quality before/after.
    """
    task = make_task(seed=seed)
    schema = FeatureSchema(version=1, model_keys=task.model_keys)
    data = node_datasets(task, nodes, queries_per_node=queries_per_node, seed=seed + 1)
    clients = {}
    for i, (train, val) in enumerate(data):
        app = make_client_app(_fixed_rows(train, val))
        clients[f"peer-{i}"] = FederatedClient.for_peer(app, f"peer-{i}")
    transport = InProcessTransport(clients)
    test_rows = sample_rows(task, 400, np.random.default_rng(seed + 99), prefix="t")
    initial = RouterModel(schema)
    round_times: list[float] = []

    def full_trust(_peer: str) -> float:
        return 1.0

    reputation = full_trust if strategy == "reputation" else None

    def on_round(event: RoundEvent) -> None:
        round_times.append(event.report.duration_s)

    t0 = time.perf_counter()
    report = run_training(
        transport,
        rounds=rounds,
        min_nodes=nodes,
        strategy=strategy,
        initial=initial,
        reputation=reputation,
        progress=on_round,
    )
    total = time.perf_counter() - t0
    before, after = initial.evaluate(test_rows), report.model().evaluate(test_rows)
    return {
        "nodes": nodes,
        "rounds": rounds,
        "strategy": strategy,
        "total_s": round(total, 4),
        "round_s": [round(t, 4) for t in round_times],
        "mean_round_s": round(statistics.fmean(round_times), 4) if round_times else None,
        "exchanges": transport.exchanges,
        "heldout_accuracy_before": round(before["accuracy"], 4),
        "heldout_accuracy_after": round(after["accuracy"], 4),
        "heldout_log_loss_after": round(after["log_loss"], 4),
        "heldout_choice_accuracy_after": round(after["choice_accuracy"], 4),
    }


def run_embedding_benchmark(
    threads: tuple[int, ...] = (1, 2), queries: int = 40, warmup: int = 5
) -> dict[str, Any]:
    """Warm single-query latency of MiniLM (encode) and of a full routing decision.

    A routing decision = encode the query (cache miss) + predict_all + argmax.
    Sets torch's thread count process-wide for each measurement.
    """
    import torch

    from ._embedding import Embedder

    schema = FeatureSchema(version=1, model_keys=("smollm2", "gemma3-270m"))
    router = RouterModel(schema)
    rng = np.random.default_rng(0)
    router.fit(
        [
            FeedbackRow(rng.normal(size=384).astype(np.float32), k, bool(rng.random() < 0.5))
            for k in schema.model_keys
            for _ in range(20)
        ],
        epochs=5,
    )
    out: dict[str, Any] = {"torch_threads_before": torch.get_num_threads()}
    load_t0 = time.perf_counter()
    Embedder().warm_up()
    out["first_load_s"] = round(time.perf_counter() - load_t0, 3)
    for n_threads in threads:
        embedder = Embedder(num_threads=n_threads, cache_size=0)
        for i in range(warmup):
            embedder.encode_one(f"warm-up query {i}")
        encode_ms, decide_ms = [], []
        for i in range(queries):
            text = f"Which planet in the solar system has the most moons? (variant {i})"
            t0 = time.perf_counter()
            embedder.encode_one(text)
            encode_ms.append((time.perf_counter() - t0) * 1e3)
            t0 = time.perf_counter()
            emb = embedder.encode_one(text + " again")
            scores = router.predict_all(emb)
            max(scores, key=scores.__getitem__)
            decide_ms.append((time.perf_counter() - t0) * 1e3)
        out[f"threads_{n_threads}"] = {
            "encode_p50_ms": round(_percentile(encode_ms, 50), 2),
            "encode_p90_ms": round(_percentile(encode_ms, 90), 2),
            "decision_p50_ms": round(_percentile(decide_ms, 50), 2),
        }
    cached = Embedder(cache_size=8)
    cached.encode_one("cached query")
    t0 = time.perf_counter()
    for _ in range(1000):
        cached.encode_one("cached query")
    out["cache_hit_us"] = round((time.perf_counter() - t0) * 1e3, 2)
    emb = cached.encode_one("cached query")
    t0 = time.perf_counter()
    for _ in range(1000):
        router.predict_all(emb)
    out["predict_all_us"] = round((time.perf_counter() - t0) * 1e3, 2)
    return out


def _median_ci95(ratios: list[float], draws: int) -> list[float]:
    """95% bootstrap interval of the median of ``ratios`` (fixed seed, so a rerun on the same timings agrees)."""
    rng = np.random.default_rng(0)
    medians = np.sort([np.median(rng.choice(ratios, len(ratios))) for _ in range(draws)])
    return [round(float(medians[int(0.025 * draws)]), 4), round(float(medians[int(0.975 * draws) - 1]), 4)]


def compare_embedding_runtimes(texts: list[str], *, draws: int = 2000) -> dict[str, Any]:
    """MiniLM on onnxruntime vs on torch (one thread each), query by query in this process.

    Each text is encoded once by each runtime, the order flipping every text so load drift
    lands on both; reported: p50 of each, the per-text time ratio onnx / torch (median with a
    bootstrap 95% CI, n texts) and the largest difference between the two vectors.
    """
    from ._embedding import _OnnxRuntime, _TorchRuntime

    onnx, reference = _OnnxRuntime(1), _TorchRuntime(1)
    onnx.encode(["warm up"])
    reference.encode(["warm up"])
    onnx_ms, torch_ms, diff = [], [], 0.0
    for i, text in enumerate(texts):
        timed: dict[str, float] = {}
        vectors = {}
        for name in (("onnx", "torch") if i % 2 == 0 else ("torch", "onnx")):
            runtime = onnx if name == "onnx" else reference
            t0 = time.perf_counter()
            vectors[name] = runtime.encode([text])[0]
            timed[name] = (time.perf_counter() - t0) * 1e3
        onnx_ms.append(timed["onnx"])
        torch_ms.append(timed["torch"])
        diff = max(diff, float(np.abs(vectors["onnx"] - vectors["torch"]).max()))
    ratios = [a / b for a, b in zip(onnx_ms, torch_ms, strict=True)]
    return {
        "n": len(texts),
        "onnx_ms_p50": round(statistics.median(onnx_ms), 2),
        "torch_ms_p50": round(statistics.median(torch_ms), 2),
        "ratio_p50": round(statistics.median(ratios), 4),
        "ratio_p50_ci95": _median_ci95(ratios, draws),
        "max_abs_diff": diff,
    }


def _int8_graph() -> tuple[Path, Path]:
    """The fp32 graph's dynamically quantised copy (int8 weights), made once beside it, offline."""
    import os

    from ._minilm_onnx import cache_file, ensure_exported

    source = ensure_exported()
    target = cache_file().with_name(cache_file().stem + "-int8.onnx")
    if not target.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        partial = target.with_name(f".{target.name}.{os.getpid()}")
        logging.disable(logging.WARNING)  # its advice to pre-process goes to the root logger
        try:
            quantize_dynamic(str(source), str(partial), weight_type=QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)
        os.replace(partial, target)
    return source, target


def compare_int8_graph(texts: list[str], *, draws: int = 2000) -> dict[str, Any]:
    """MiniLM's fp32 graph vs its int8 copy on onnxruntime (one thread each), text by text.

    Why: the routing decision is this forward pass, and an int8 graph is the cheaper one on
    these cores; but its vectors differ, while stored rows, router heads and peers' knowledge
    centroids are fp32 vectors. Each text is encoded by both, the order flipping every text.
    Reported: p50 of each, the per-text ratio int8 / fp32 (median, bootstrap 95% CI, n texts),
    the cosine between a text's two vectors, and how often a text's nearest other text by fp32
    vectors stays its nearest when its int8 vector asks the others' fp32 vectors (what a node
    that switched graphs would see against the rows it stored before).
    """
    from ._minilm_onnx import OnnxMiniLM

    source, target = _int8_graph()
    fp32, int8 = OnnxMiniLM(source, num_threads=1), OnnxMiniLM(target, num_threads=1)
    fp32.encode(["warm up"])
    int8.encode(["warm up"])
    fp32_ms: list[float] = []
    int8_ms: list[float] = []
    ref_rows: list[np.ndarray] = []
    new_rows: list[np.ndarray] = []
    for i, text in enumerate(texts):
        for name in (("fp32", "int8") if i % 2 == 0 else ("int8", "fp32")):
            model, times, rows = (fp32, fp32_ms, ref_rows) if name == "fp32" else (int8, int8_ms, new_rows)
            t0 = time.perf_counter()
            rows.append(model.encode([text])[0])
            times.append((time.perf_counter() - t0) * 1e3)
    ref, new = np.stack(ref_rows), np.stack(new_rows)
    cosines = (ref * new).sum(axis=1)
    same = ref @ ref.T
    mixed = new @ ref.T
    np.fill_diagonal(same, -np.inf)
    np.fill_diagonal(mixed, -np.inf)
    kept = float(np.mean(same.argmax(axis=1) == mixed.argmax(axis=1)))
    ratios = [a / b for a, b in zip(int8_ms, fp32_ms, strict=True)]
    return {
        "n": len(texts),
        "fp32_ms_p50": round(statistics.median(fp32_ms), 2),
        "int8_ms_p50": round(statistics.median(int8_ms), 2),
        "ratio_p50": round(statistics.median(ratios), 4),
        "ratio_p50_ci95": _median_ci95(ratios, draws),
        "cosine_min": round(float(cosines.min()), 4),
        "cosine_p50": round(float(np.median(cosines)), 4),
        "nearest_neighbour_kept": round(kept, 4),
    }


def main(argv: list[str] | None = None) -> None:
    logging.getLogger("flwr").setLevel(logging.WARNING)  # Flower logs every round at INFO
    which = (argv if argv is not None else sys.argv[1:]) or ["rounds", "embedding"]
    results: dict[str, Any] = {}
    if "rounds" in which:
        results["rounds"] = run_round_benchmark()
    if "embedding" in which:
        results["embedding"] = run_embedding_benchmark()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
