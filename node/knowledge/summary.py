"""The corpus summary an ad carries: a few k-means centroids of chunk embeddings, never text.

A receiver can tell what a corpus is about (which questions it answers) but cannot read
any chunk back: a centroid averages many chunks, it is int8-quantised, and Gaussian noise
can be added to it and to the counts (``knowledge.summary_noise``). ``match`` is the
receiving side: cosine of a question's embedding with the nearest centroid.
"""

from __future__ import annotations

import numpy as np
from peermind.protocol import SUMMARY_DIMS, KnowledgeCentroid, KnowledgeSummary

KMEANS_ITERATIONS = 15


def kmeans(vectors: np.ndarray, k: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(unit-norm centroids, cluster sizes) by spherical k-means with k-means++ seeding."""
    n = len(vectors)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    centres = [vectors[rng.integers(n)]]
    for _ in range(1, k):
        distance = 1.0 - np.max(vectors @ np.array(centres).T, axis=1)
        weights = np.clip(distance, 0.0, None)
        total = weights.sum()
        centres.append(vectors[rng.choice(n, p=weights / total)] if total > 0 else vectors[rng.integers(n)])
    c = np.array(centres, dtype=np.float32)
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(KMEANS_ITERATIONS):
        labels = np.argmax(vectors @ c.T, axis=1)
        for j in range(k):
            members = vectors[labels == j]
            if len(members):
                c[j] = members.mean(axis=0)
        c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-9)
    return c, np.bincount(labels, minlength=k)


def summarise(vectors: np.ndarray, *, centroids: int, noise: float = 0.0, topics: tuple[str, ...] = (),
              seed: int = 0) -> KnowledgeSummary | None:
    """The ad's summary of ``vectors`` (chunk embeddings), or None for an empty corpus."""
    if len(vectors) == 0 or centroids <= 0:
        return None
    c, counts = kmeans(np.asarray(vectors, dtype=np.float32), centroids, seed=seed)
    n = int(len(vectors))
    if noise > 0:
        rng = np.random.default_rng()
        c = c + rng.normal(0.0, noise, size=c.shape).astype(np.float32)
        c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-9)
        counts = np.maximum(1, np.rint(counts + rng.normal(0.0, max(1.0, noise * counts.mean()), size=counts.shape)))
        n = int(round(n, -1))
    return KnowledgeSummary(
        centroids=[KnowledgeCentroid(vector=quantise(v), count=int(m)) for v, m in zip(c, counts, strict=True)],
        topics=list(topics),
        chunks=n,
        noised=noise > 0,
    )


def quantise(vector: np.ndarray) -> bytes:
    """A unit vector as int8 bytes (x127): a quarter of float32's size in every ad."""
    return np.clip(np.rint(np.asarray(vector) * 127), -127, 127).astype(np.int8).tobytes()


def centroid_matrix(summary: KnowledgeSummary) -> np.ndarray:
    """Unit-norm float centroids of a received summary, shape (k, 384)."""
    if not summary.centroids:
        return np.zeros((0, SUMMARY_DIMS), dtype=np.float32)
    m = np.stack([np.frombuffer(c.vector, dtype=np.int8).astype(np.float32) for c in summary.centroids])
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-9)


def match(embedding: np.ndarray, summary: KnowledgeSummary) -> float:
    """How well a question fits a corpus: cosine with its nearest centroid (0 when empty)."""
    m = centroid_matrix(summary)
    if len(m) == 0:
        return 0.0
    return float(np.max(m @ np.asarray(embedding, dtype=np.float32)))
