"""Seeded synthetic feedback: clustered embeddings where each model is good on some topics.

Used by the round benchmark and the tests so that federated training can be
exercised at scale without embedding a benchmark corpus. Each cluster stands
for a topic; each model answers a topic correctly with a fixed probability, so
the best achievable router is known and the data is non-IID across nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._schema import EMBED_DIM, FeedbackRow


@dataclass(frozen=True, slots=True)
class SyntheticTask:
    """Topic centres and the per-(model, topic) probability of a correct answer."""

    model_keys: tuple[str, ...]
    centres: np.ndarray  # (topics, dim), unit rows
    accuracy: np.ndarray  # (models, topics)
    noise: float

    @property
    def topics(self) -> int:
        return int(self.centres.shape[0])


def make_task(
    model_keys: tuple[str, ...] = ("smollm2", "gemma3-270m"),
    *,
    topics: int = 6,
    dim: int = EMBED_DIM,
    noise: float = 0.6,
    seed: int = 0,
) -> SyntheticTask:
    """A task where, per topic, one model is a specialist (p=0.9) and others are weak (p=0.2)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(topics, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    accuracy = np.full((len(model_keys), topics), 0.2)
    for t in range(topics):
        accuracy[t % len(model_keys), t] = 0.9
    return SyntheticTask(model_keys=model_keys, centres=centres, accuracy=accuracy, noise=noise)


def sample_rows(
    task: SyntheticTask,
    queries: int,
    rng: np.random.Generator,
    *,
    topic_weights: np.ndarray | None = None,
    prefix: str = "q",
) -> list[FeedbackRow]:
    """``queries`` queries, each with one outcome row per model (so choice accuracy is defined)."""
    probs = None if topic_weights is None else topic_weights / topic_weights.sum()
    topic = rng.choice(task.topics, size=queries, p=probs)
    dim = task.centres.shape[1]
    emb = task.centres[topic] + task.noise * rng.normal(size=(queries, dim)) / np.sqrt(dim)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    rows: list[FeedbackRow] = []
    for q in range(queries):
        for m, key in enumerate(task.model_keys):
            correct = bool(rng.random() < task.accuracy[m, topic[q]])
            rows.append(FeedbackRow(emb[q].astype(np.float32), key, correct, 1.0, f"{prefix}{q}"))
    return rows


def node_datasets(
    task: SyntheticTask,
    nodes: int,
    *,
    queries_per_node: int = 60,
    validation_fraction: float = 0.25,
    alpha: float = 0.5,
    seed: int = 1,
) -> list[tuple[list[FeedbackRow], list[FeedbackRow]]]:
    """Per-node (train, validation) rows with Dirichlet(alpha)-skewed topic mixes (non-IID)."""
    rng = np.random.default_rng(seed)
    out = []
    for node in range(nodes):
        mix = rng.dirichlet(np.full(task.topics, alpha))
        rows = sample_rows(task, queries_per_node, rng, topic_weights=mix, prefix=f"n{node}q")
        cut = int(len(rows) * (1 - validation_fraction))
        cut -= cut % len(task.model_keys)  # keep each query's rows on one side
        out.append((rows[:cut], rows[cut:]))
    return out
