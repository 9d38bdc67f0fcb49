"""What a knowledge peer's corpus match is worth on a question, learned from labelled answers.

The router's utility adds ``weight * excess`` for a candidate whose advertised corpus
matches the question (``excess``: the match above the floor). A fixed weight says
"documents on the topic are worth this much accuracy" everywhere; in fact they are
worth a lot where the question needs them and nothing where the model knows the answer
anyway (on SciQ, Gemma-3 answers most items without the passage). So the weight is
learned per question from labelled answers of peers whose corpus matched: each such
answer's surprise ``r = correct - baseline`` (the baseline: what the router predicts
for that model on that question without the match) is regressed on its excess ``x``,
over the answered questions most like this one, with a Gaussian prior at the
configured weight ``w0``:

    w(q) = (s * w0 + sum_i k_i x_i r_i) / (s + sum_i k_i x_i^2)

``k_i`` are neighbour weights as in ``NeighbourRouter`` (near-duplicates count fully,
loose matches fade); ``s`` is the prior's strength in units of ``x^2``. With excesses
around 0.3, a few tens of labelled answers outweigh the prior. Pure numpy; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ._errors import InvalidEmbedding
from ._neighbours import (
    CLOSE_MATCH,
    DEFAULT_K,
    LOOSE_MATCH,
    MIN_RELEVANCE,
    SIMILARITY_TEMPERATURE,
    unit_embedding,
)

__all__ = ["KnowledgeValue", "MatchOutcome", "MatchWeight"]

DEFAULT_PRIOR_STRENGTH = 0.5
"""Pseudo-evidence behind the configured weight, in units of excess^2: about five answers at excess 0.3."""
MAX_WEIGHT = 10.0
"""The configured weight's upper bound too (``knowledge.match_weight``)."""


@dataclass(frozen=True)
class MatchOutcome:
    """One labelled answer from a peer whose corpus matched its question."""

    embedding: np.ndarray
    excess: float
    """The answering peer's match above the floor (> 0)."""
    correct: bool
    baseline: float
    """P(correct) the router predicts for the answering model on this question, without this answer."""


@dataclass(frozen=True)
class MatchWeight:
    """The knowledge weight for one question, with what it rests on."""

    weight: float
    answers: int
    """Labelled answers of matching peers that informed it (0: the configured weight alone)."""
    evidence: float
    """Their total neighbour weight: how many similar answers, in effect."""


class KnowledgeValue:
    """Labelled answers of matching peers and the knowledge weight they imply for a new question."""

    def __init__(self, embed_dim: int, prior_weight: float, *, prior_strength: float = DEFAULT_PRIOR_STRENGTH,
                 k: int = DEFAULT_K, temperature: float = SIMILARITY_TEMPERATURE) -> None:
        if embed_dim <= 0 or prior_strength <= 0 or k <= 0 or temperature <= 0:
            raise ValueError("embed_dim, prior_strength, k and temperature must be positive")
        self.embed_dim = embed_dim
        self.prior_weight = min(max(prior_weight, 0.0), MAX_WEIGHT)
        self.prior_strength = prior_strength
        self.k = k
        self.temperature = temperature
        self._x = np.zeros((0, embed_dim))
        self._excess = np.zeros(0)
        self._surprise = np.zeros(0)

    def __len__(self) -> int:
        return len(self._excess)

    def fit(self, outcomes: Iterable[MatchOutcome]) -> int:
        """Replace the memory with ``outcomes`` (malformed embeddings and non-positive excesses skipped)."""
        vectors, excess, surprise = [], [], []
        for o in outcomes:
            if not o.excess > 0 or not np.isfinite(o.baseline):
                continue
            try:
                vectors.append(self._unit(o.embedding))
            except InvalidEmbedding:
                continue
            excess.append(float(o.excess))
            surprise.append((1.0 if o.correct else 0.0) - min(max(float(o.baseline), 0.0), 1.0))
        self._x = np.vstack(vectors) if vectors else np.zeros((0, self.embed_dim))
        self._excess = np.asarray(excess, dtype=np.float64)
        self._surprise = np.asarray(surprise, dtype=np.float64)
        return len(excess)

    def weight(self, embedding: np.ndarray) -> MatchWeight:
        """The posterior-mean weight for this question, clipped to [0, MAX_WEIGHT]."""
        if not len(self._excess):
            return MatchWeight(self.prior_weight, 0, 0.0)
        sims = self._x @ self._unit(embedding)
        k = min(self.k, len(sims))
        top = np.argpartition(-sims, k - 1)[:k]
        best = float(sims[top].max())
        relevance = min(max((best - LOOSE_MATCH) / (CLOSE_MATCH - LOOSE_MATCH), MIN_RELEVANCE), 1.0)
        w = relevance * np.exp((sims[top] - best) / self.temperature)
        x, r = self._excess[top], self._surprise[top]
        value = (self.prior_strength * self.prior_weight + float(np.dot(w, x * r))) / (
            self.prior_strength + float(np.dot(w, x * x)))
        return MatchWeight(min(max(value, 0.0), MAX_WEIGHT), int(k), float(w.sum()))

    def _unit(self, embedding: np.ndarray) -> np.ndarray:
        return unit_embedding(embedding, self.embed_dim)
