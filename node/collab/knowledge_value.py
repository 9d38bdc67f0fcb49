"""The knowledge match's utility weight, learned per question from this node's labelled rows.

The adapter between the node and ``peermind.federated.KnowledgeValue``. Every labelled
row (feedback, canaries, probes, user marks: the rows the quality memory holds) whose
peer advertises a corpus is matched against that peer's current summary; a row above
``MATCH_FLOOR`` is an answer given with a matching corpus. Its surprise against what the
router predicts for that model on that question without it (the federated heads as the
prior mean, the other labelled neighbours as evidence: leave-one-out) teaches the weight.
The configured ``knowledge.match_weight`` is the prior, so a node without such rows
routes as before. Refitted only when the memory reloaded its rows or a summary changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

import numpy as np
from peermind.federated import EMBED_DIM, KnowledgeValue, MatchOutcome, MatchWeight, NeighbourRouter
from peermind.protocol import KnowledgeSummary

from ..knowledge.summary import match
from ..store import FeedbackRecord
from .candidates import Candidate
from .knowledge_match import MATCH_FLOOR
from .quality import QualityMemory

__all__ = ["KnowledgeWeight", "matched_outcomes"]


class Heads(Protocol):
    """The router's trained heads, as far as the baseline needs them (``RouterHolder``)."""

    def trained_heads(self) -> set[str]:
        """Models that have a fitted head (the baseline a match is measured against)."""
        ...

    def predict(self, embedding: np.ndarray) -> dict[str, float]:
        """Model -> predicted probability of a right answer to the question ``embedding``."""
        ...


class KnowledgeWeight:
    """The knowledge weight for a question: the configured prior, moved by labelled answers."""

    def __init__(self, prior_weight: float, embed_dim: int = EMBED_DIM) -> None:
        self.value = KnowledgeValue(embed_dim, prior_weight)
        self._fitted: tuple[int, tuple[tuple[str, str], ...]] | None = None

    @property
    def prior_weight(self) -> float:
        """The configured weight (``knowledge.match_weight``), used until labelled answers move it."""
        return self.value.prior_weight

    def learned(self, embedding: np.ndarray, memory: QualityMemory, candidates: Sequence[Candidate],
                heads: Heads | None = None) -> MatchWeight:
        """The weight for ``embedding``, refitting first if the rows or the peers' summaries changed."""
        summaries = {c.peer_id: c.knowledge for c in candidates if c.knowledge is not None and c.knowledge.centroids}
        key = (memory.generation, tuple(sorted((p, fingerprint(s)) for p, s in summaries.items())))
        if key != self._fitted:
            self._fitted = key
            self.value.fit(matched_outcomes(memory.records, summaries, memory.neighbours, heads))
        return self.value.weight(embedding)


def fingerprint(summary: KnowledgeSummary) -> str:
    """A short digest of a knowledge summary's centroids: the learned weight is refitted when it changes."""
    h = hashlib.blake2b(digest_size=8)
    for c in summary.centroids:
        h.update(c.vector)
    return h.hexdigest()


def matched_outcomes(records: Sequence[FeedbackRecord], summaries: Mapping[str, KnowledgeSummary],
                     neighbours: NeighbourRouter, heads: Heads | None = None) -> Iterator[MatchOutcome]:
    """Rows answered by a peer whose corpus matches the row's question, with their leave-one-out baselines."""
    use_heads = heads is not None and bool(heads.trained_heads())
    for r in records:
        summary = summaries.get(r.peer or "")
        embedding = np.asarray(r.query_embedding, dtype=np.float32).reshape(-1)
        if summary is None or r.correct is None or not r.model_key or embedding.shape != (neighbours.embed_dim,):
            continue
        excess = match(embedding, summary) - MATCH_FLOOR
        if excess <= 0 or not np.all(np.isfinite(embedding)) or not embedding.any():
            continue
        prior = heads.predict(embedding).get(r.model_key) if use_heads and heads is not None else None
        post = neighbours.posterior(embedding, r.model_key, prior)
        y = 1.0 if r.correct else 0.0
        alpha, beta = max(post.alpha - y, 1e-3), max(post.beta - (1.0 - y), 1e-3)  # without the row itself
        yield MatchOutcome(embedding, excess, bool(r.correct), alpha / (alpha + beta))
