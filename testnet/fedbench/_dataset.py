"""The benchmark's data: real items, real model outcomes, MiniLM embeddings, non-IID nodes.

Each item of the router-train and test splits of several benchmark datasets
gets one feedback row per model ("did this model choose the gold answer?",
from ``_outcomes``), with the item's MiniLM embedding. Train items are dealt
to nodes non-IID: node i's *home* dataset supplies ``skew`` of its items, the
rest are spread over all nodes, and no item is on two nodes. The test split is
only ever used to score routers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from peermind.bench import Item, cache_root, load_items
from peermind.federated import FeedbackRow

from ._outcomes import MODELS, Progress, ensure_outcomes
from .errors import FedBenchError

DATASETS = ("sst2", "boolq", "csqa", "arc_challenge")
"""Four multiple-choice families where the two models differ: SmolLM2 is right more often on
SST-2 and ARC-Challenge, Gemma-3 on BoolQ and CommonsenseQA (probe of 30 train items each)."""


@dataclass(frozen=True)
class BenchData:
    train: list[Item]
    test: list[Item]
    outcomes: dict[str, dict[str, bool]]  # model -> item id -> correct
    embeddings: dict[str, np.ndarray]  # item id -> (384,) float32

    def rows(self, items: Sequence[Item]) -> list[FeedbackRow]:
        """One row per (item, model): the router's training/validation examples."""
        return [
            FeedbackRow(self.embeddings[item.id], model, self.outcomes[model][item.id], 1.0, item.id)
            for item in items
            for model in MODELS
        ]

    def correct(self, item: Item, model: str) -> bool:
        return self.outcomes[model][item.id]


def _embedding_cache(root: Path | None) -> Path:
    return (root or cache_root()) / "fedbench" / "embeddings.npz"


def embed_items(items: Sequence[Item], *, root: Path | None = None, progress: Progress = lambda _m: None) -> dict[str, np.ndarray]:
    """item id -> MiniLM embedding of the question as a user would ask it; cached on disk."""
    from peermind.federated import Embedder

    path = _embedding_cache(root)
    known: dict[str, np.ndarray] = {}
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            known = {str(k): np.array(v, dtype=np.float32) for k, v in zip(data["ids"], data["emb"], strict=True)}
    todo = [i for i in items if i.id not in known]
    if todo:
        progress(f"embedding {len(todo)} questions with all-MiniLM-L6-v2")
        vectors = Embedder(num_threads=1).encode([i.query for i in todo])
        known.update({item.id: vectors[n] for n, item in enumerate(todo)})
        path.parent.mkdir(parents=True, exist_ok=True)
        ids = sorted(known)
        np.savez(path, ids=np.array(ids, dtype=np.str_), emb=np.stack([known[i] for i in ids]))
    return {i.id: known[i.id] for i in items}


def load_bench_data(
    datasets: Sequence[str] = DATASETS,
    *,
    train_per_dataset: int = 150,
    test_per_dataset: int = 100,
    threads: int = 1,
    root: Path | None = None,
    progress: Progress = lambda _m: None,
) -> BenchData:
    """Items, outcomes (scored on first use, ~0.3-0.6 s per item per model) and embeddings."""
    train = [i for d in datasets for i in load_items(d, "train", train_per_dataset)]
    test = [i for d in datasets for i in load_items(d, "test", test_per_dataset)]
    if not train or not test:
        raise FedBenchError(f"no items for {list(datasets)}; run `peermind setup` first")
    outcomes = ensure_outcomes([*train, *test], threads=threads, root=root, progress=progress)
    embeddings = embed_items([*train, *test], root=root, progress=progress)
    return BenchData(train, test, outcomes, embeddings)


def split_non_iid(
    items: Sequence[Item], nodes: int, *, datasets: Sequence[str] = DATASETS, skew: float = 0.8, seed: int = 0
) -> list[list[Item]]:
    """Deal ``items`` to ``nodes`` nodes; node i gets mostly dataset ``datasets[i % len]``.

    Of each dataset, ``skew`` goes to its home nodes (round-robin among them),
    the rest round-robin over all nodes; datasets without a home node are
    spread over all nodes.
    """
    if nodes < 1 or not 0.0 <= skew <= 1.0:
        raise FedBenchError(f"need nodes >= 1 and 0 <= skew <= 1, got {nodes}, {skew}")
    rng = np.random.default_rng(seed)
    out: list[list[Item]] = [[] for _ in range(nodes)]
    for d in datasets:
        pool = [i for i in items if i.dataset == d]
        order = rng.permutation(len(pool))
        pool = [pool[k] for k in order]
        homes = [n for n in range(nodes) if datasets[n % len(datasets)] == d]
        cut = int(round(skew * len(pool))) if homes else 0
        for k, item in enumerate(pool[:cut]):
            out[homes[k % len(homes)]].append(item)
        for k, item in enumerate(pool[cut:]):
            out[k % nodes].append(item)
    return out
