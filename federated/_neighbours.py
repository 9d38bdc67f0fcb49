"""Per-query quality from labelled neighbours: the router's online, per-domain memory.

The logistic heads (``RouterModel``) learn slowly and globally: a few hundred rows per
round, shared by federated training. A new kind of question needs the router to move
within tens of labelled answers, and the small models here differ by *kind* of
question (SmolLM2 beats Gemma-3 on some datasets and loses badly on others), which a
linear head over a sentence embedding separates poorly. So every labelled row (from
seeding, canaries and idle probes, user feedback) also goes into a nearest-neighbour
memory: for a query, each model's labelled outcomes on the most similar past questions
update a Beta prior centred on that model's overall accuracy (or the head's prediction,
when a head is trained). The result is a posterior per model, with its uncertainty, so
the caller can both rank by the mean and explore models it knows little about.

Pure numpy; no I/O. The node feeds it rows and asks it questions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ._errors import InvalidEmbedding

__all__ = ["NeighbourRouter", "QualityPosterior"]

DEFAULT_K = 24
"""Neighbours per model: enough to average over a kind of question, few enough to stay local."""
DEFAULT_PRIOR_STRENGTH = 4.0
"""Pseudo-observations behind the prior mean: the neighbours outweigh it after a handful of rows."""
SIMILARITY_TEMPERATURE = 0.1
"""Neighbour weight exp((cos - best) / T): near-duplicates count fully, loose matches fade."""
LOOSE_MATCH, CLOSE_MATCH, MIN_RELEVANCE = 0.2, 0.6, 0.1
"""When even the closest labelled row is only loosely similar (cosine near LOOSE_MATCH), its
neighbours are another kind of question: their evidence is scaled down (to MIN_RELEVANCE)
and the prior (the model's overall accuracy) speaks instead."""
GLOBAL_PRIOR_STRENGTH = 2.0
"""Pseudo-observations (at 0.5) behind a model's overall accuracy, so 3 rows do not say 100%."""


@dataclass(frozen=True)
class QualityPosterior:
    """Beta(alpha, beta) belief that ``model`` answers this query correctly."""

    model: str
    alpha: float
    beta: float
    neighbours: int
    """Labelled rows of this model that informed the estimate (0: prior only)."""
    similarity: float
    """Cosine similarity of the closest labelled row of this model (0 when none)."""
    evidence: float = 0.0
    """Total weight of the neighbours' outcomes: how many similar labelled answers, in effect."""

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def stdev(self) -> float:
        a, b = self.alpha, self.beta
        return math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))

    def sample(self, rng: np.random.Generator) -> float:
        """One Thompson draw of P(correct)."""
        return float(rng.beta(self.alpha, self.beta))


class NeighbourRouter:
    """Labelled query embeddings per model and the posteriors they imply for a new query."""

    def __init__(
        self,
        embed_dim: int,
        *,
        k: int = DEFAULT_K,
        prior_strength: float = DEFAULT_PRIOR_STRENGTH,
        temperature: float = SIMILARITY_TEMPERATURE,
    ) -> None:
        if embed_dim <= 0 or k <= 0 or prior_strength <= 0 or temperature <= 0:
            raise ValueError("embed_dim, k, prior_strength and temperature must be positive")
        self.embed_dim = embed_dim
        self.k = k
        self.prior_strength = prior_strength
        self.temperature = temperature
        self._x: dict[str, list[np.ndarray]] = {}
        self._y: dict[str, list[float]] = {}
        self._stacked: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # ------------------------------------------------------------------ rows
    def add(self, embedding: np.ndarray, model: str, correct: bool) -> None:
        """Remember one labelled outcome (unit-normalised; invalid embeddings are refused)."""
        vec = self._unit(embedding)
        self._x.setdefault(model, []).append(vec)
        self._y.setdefault(model, []).append(1.0 if correct else 0.0)
        self._stacked.pop(model, None)

    def extend(self, rows: Iterable[tuple[np.ndarray, str, bool]]) -> int:
        """Add many rows, skipping malformed embeddings; returns how many were kept."""
        kept = 0
        for embedding, model, correct in rows:
            try:
                self.add(embedding, model, correct)
            except InvalidEmbedding:
                continue
            kept += 1
        return kept

    def clear(self) -> None:
        self._x.clear()
        self._y.clear()
        self._stacked.clear()

    def __len__(self) -> int:
        return sum(len(v) for v in self._y.values())

    def models(self) -> list[str]:
        return sorted(self._y)

    def rows_of(self, model: str) -> int:
        return len(self._y.get(model, ()))

    def accuracy(self, model: str) -> float | None:
        """The model's overall labelled accuracy, shrunk towards 0.5 (None without rows)."""
        ys = self._y.get(model)
        if not ys:
            return None
        return (sum(ys) + 0.5 * GLOBAL_PRIOR_STRENGTH) / (len(ys) + GLOBAL_PRIOR_STRENGTH)

    # ------------------------------------------------------------------ queries
    def posterior(self, embedding: np.ndarray, model: str, prior_mean: float | None = None) -> QualityPosterior:
        """Beta posterior for ``model`` on this query.

        The prior mean is ``prior_mean`` (e.g. a trained head's prediction) when given,
        else the model's overall accuracy, else 0.5; its weight is ``prior_strength``.
        The k most similar labelled rows of the model add their outcomes, each weighted
        by how close it is to the query relative to the closest one.
        """
        query = self._unit(embedding)
        mean = prior_mean if prior_mean is not None else (self.accuracy(model) or 0.5)
        mean = min(max(mean, 0.01), 0.99)
        alpha, beta = mean * self.prior_strength, (1 - mean) * self.prior_strength
        stacked = self._matrix(model)
        if stacked is None:
            return QualityPosterior(model, alpha, beta, 0, 0.0, 0.0)
        x, y = stacked
        sims = x @ query
        k = min(self.k, sims.shape[0])
        top = np.argpartition(-sims, k - 1)[:k]
        best = float(sims[top].max())
        relevance = min(max((best - LOOSE_MATCH) / (CLOSE_MATCH - LOOSE_MATCH), MIN_RELEVANCE), 1.0)
        weights = relevance * np.exp((sims[top] - best) / self.temperature)
        alpha += float(np.dot(weights, y[top]))
        beta += float(np.dot(weights, 1.0 - y[top]))
        return QualityPosterior(model, alpha, beta, int(k), best, float(weights.sum()))

    def posteriors(
        self, embedding: np.ndarray, models: Iterable[str], priors: Mapping[str, float] | None = None
    ) -> dict[str, QualityPosterior]:
        priors = priors or {}
        return {m: self.posterior(embedding, m, priors.get(m)) for m in models}

    # ------------------------------------------------------------------ internals
    def _matrix(self, model: str) -> tuple[np.ndarray, np.ndarray] | None:
        if model not in self._y or not self._y[model]:
            return None
        stacked = self._stacked.get(model)
        if stacked is None:
            stacked = (np.vstack(self._x[model]), np.asarray(self._y[model], dtype=np.float64))
            self._stacked[model] = stacked
        return stacked

    def _unit(self, embedding: np.ndarray) -> np.ndarray:
        return unit_embedding(embedding, self.embed_dim)


def unit_embedding(embedding: np.ndarray, embed_dim: int) -> np.ndarray:
    """``embedding`` as a float64 unit vector; a wrong shape, a non-finite value or all zeros is
    ``InvalidEmbedding`` (cosine similarity would be meaningless)."""
    vec = np.asarray(embedding, dtype=np.float64).reshape(-1)
    if vec.shape != (embed_dim,) or not np.all(np.isfinite(vec)):
        raise InvalidEmbedding(f"embedding of shape {np.shape(embedding)}; expected ({embed_dim},) finite")
    norm = float(np.linalg.norm(vec))
    if norm == 0.0:
        raise InvalidEmbedding("embedding is all zeros")
    return vec / norm
