"""What this node believes about each model's quality on a query, kept in step with its rows.

Two sources, combined per query: the router's trained heads (weights shared by federated
training: global, slow) give the prior mean, and the labelled feedback rows in this
node's store (seed, canaries and idle probes, user marks: local, immediate) refine it
through ``peermind.federated.NeighbourRouter``. Any writer of labelled rows is picked
up: the memory re-reads the store when its count of labelled rows changed (checked at
most once a second) or every ``FULL_RELOAD_S`` (so rows of peers that trust later
excluded stop counting).

Rows from peers this node no longer asks (liars caught by canaries) are left out: a
liar advertising a good model must not teach the router that the model is bad.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import trio
from peermind.federated import EMBED_DIM, NeighbourRouter, QualityPosterior

from ..errors import NodeError
from ..store import FeedbackRecord, Store

log = logging.getLogger("peermind.node.collab.quality")

CHECK_INTERVAL_S = 1.0
FULL_RELOAD_S = 30.0
EXPLORE_BELOW_EVIDENCE = 4.0
"""A model with less neighbour evidence than this for the query (in effect, fewer similar
labelled answers) is ranked by a Thompson draw (when exploring): a new peer's model, or any
model on a new kind of question, gets a share of those questions that shrinks as similar
labelled answers accumulate."""

THIN_ROWS = 40
"""A model with fewer labelled rows than this (in all, on any question) and no trained head
has thin evidence: a handful of rows says little about it, and the node's own model always
has the most (every canary and idle probe also labels its own answer), so without a floor
the posterior of the asking node's model beats a peer's by sampling noise alone."""
EXPLORE_UPPER_SDS = 2.0
"""A thin model whose posterior mean plus this many standard deviations is still below the
best other model's mean is not explored: its few rows already say it is worse (a liar's
wrong answers, or a model bad at this kind of question)."""

PeerFilter = Callable[[str], bool]


@dataclass(frozen=True)
class QualityView:
    """The posteriors for one query, with the values a decision ranks by."""

    posteriors: Mapping[str, QualityPosterior]
    ranking: Mapping[str, float]
    """P(correct) used for ranking: the mean, or a Thompson draw for little-known models."""
    explored: tuple[str, ...] = ()
    first: str | None = None
    """A thin-evidence model this decision tries first (its exploration share), or None."""
    first_share: float = 0.0
    """The share of decisions ``first`` is tried first at its current evidence."""

    @property
    def means(self) -> dict[str, float]:
        """Model -> posterior mean accuracy near this question."""
        return {m: p.mean for m, p in self.posteriors.items()}


class QualityMemory:
    """Labelled rows of this node's store as a nearest-neighbour router (see module docstring)."""

    def __init__(self, store: Store | None, *, embed_dim: int = EMBED_DIM,
                 peer_filter: PeerFilter | None = None, rng: np.random.Generator | None = None) -> None:
        self._store = store
        self.neighbours = NeighbourRouter(embed_dim)
        self.peer_filter = peer_filter
        self._rng = rng or np.random.default_rng()
        self._labelled = -1
        self._checked_at = 0.0
        self._loaded_at = 0.0
        self._lock = trio.Lock()
        self.records: tuple[FeedbackRecord, ...] = ()
        """The labelled rows last loaded (the knowledge weight learns from the same rows)."""
        self.generation = 0
        """Bumped on every load, so readers of ``records`` know when to refit."""

    # ------------------------------------------------------------------ state
    def has_evidence(self) -> bool:
        """True once any labelled row with an embedding is in memory."""
        return len(self.neighbours) > 0

    def status(self) -> dict[str, object]:
        """Rows held and accuracy per model, for ``peermind status`` and the console."""
        n = self.neighbours
        return {
            "rows": len(n),
            "models": {m: {"rows": n.rows_of(m), "accuracy": round(n.accuracy(m) or 0.0, 4)} for m in n.models()},
        }

    def overall_accuracy(self, models: Iterable[str]) -> dict[str, float]:
        """Model -> its labelled accuracy on every question (shrunk towards 0.5), for the models
        with rows: the evidence left when a query cannot be embedded."""
        found = {m: self.neighbours.accuracy(m) for m in models}
        return {m: a for m, a in found.items() if a is not None}

    async def sync(self, *, force: bool = False) -> None:
        """Re-read the store's labelled rows if they changed (cheap count check first)."""
        if self._store is None:
            return
        now = time.monotonic()
        if not force and now - self._checked_at < CHECK_INTERVAL_S:
            return
        self._checked_at = now
        async with self._lock:
            try:
                count = await trio.to_thread.run_sync(self._store.count_labelled_feedback)
                stale = now - self._loaded_at > FULL_RELOAD_S
                if count == self._labelled and not stale and not force:
                    return
                records = await trio.to_thread.run_sync(self._store.labelled_feedback_rows)
            except NodeError:
                log.exception("could not read labelled feedback rows; keeping the previous memory")
                return
            self.load(records)
            self._labelled = count
            self._loaded_at = now

    def load(self, records: Iterable[FeedbackRecord]) -> int:
        """Replace the memory with ``records`` (labelled, well-formed, from askable peers)."""
        allowed = self.peer_filter
        self.records = tuple(r for r in records if r.correct is not None and r.model_key
                             and (allowed is None or not r.peer or allowed(r.peer)))
        self.generation += 1
        rows = [(r.query_embedding, str(r.model_key), bool(r.correct)) for r in self.records]
        self.neighbours.clear()
        return self.neighbours.extend(rows)

    # ------------------------------------------------------------------ queries
    def assess(self, embedding: np.ndarray, models: Iterable[str], *, head_means: Mapping[str, float] | None = None,
               explore: bool = False) -> QualityView:
        """Posteriors for ``models`` on this query; with ``explore``, little-known models get a draw,
        and a model with thin evidence may be picked to go first (``exploration_shares``)."""
        posteriors = self.neighbours.posteriors(embedding, sorted(set(models)), head_means)
        ranking: dict[str, float] = {}
        explored: list[str] = []
        for model, post in posteriors.items():
            head_only = model in (head_means or {}) and not self.has_evidence()
            known = head_only or post.evidence >= EXPLORE_BELOW_EVIDENCE
            if explore and not known:
                ranking[model] = post.sample(self._rng)
                explored.append(model)
            else:
                ranking[model] = post.mean
        if not explore:
            return QualityView(posteriors, ranking, tuple(explored))
        shares = self.exploration_shares(posteriors, trained=set(head_means or ()))
        first = self._pick_first(shares)
        if first is not None and first not in explored:
            explored.append(first)
        return QualityView(posteriors, ranking, tuple(explored), first, shares.get(first or "", 0.0))

    def exploration_shares(self, posteriors: Mapping[str, QualityPosterior], *,
                           trained: Collection[str] = ()) -> dict[str, float]:
        """Model -> share of decisions it goes first while its evidence is thin.

        Posterior sampling alone starves a peer on a fresh network: the asking node's own
        model holds the most rows, and a handful of rows on loosely similar questions moves
        neither mean much, so the peer loses on noise, trust weight and price. So a model
        without a trained head and with fewer than THIN_ROWS labelled rows goes first on
        ``(1 - rows / THIN_ROWS) / len(models)`` of decisions (uniform among the models at
        zero rows, nothing once evidence exists), unless even its optimistic estimate (mean +
        EXPLORE_UPPER_SDS sd) is below the best other model's mean: evidence, once it says
        a model is worse, is never overridden.
        """
        if len(posteriors) < 2:
            return {}
        shares: dict[str, float] = {}
        for model, post in posteriors.items():
            rows = self.neighbours.rows_of(model)
            if model in trained or rows >= THIN_ROWS:
                continue
            best_other = max(p.mean for m, p in posteriors.items() if m != model)
            if post.mean + EXPLORE_UPPER_SDS * post.stdev < best_other:
                continue
            shares[model] = (1 - rows / THIN_ROWS) / len(posteriors)
        return shares

    def _pick_first(self, shares: Mapping[str, float]) -> str | None:
        """One model by its share (or None, the rest of the time): at most one goes first."""
        u = float(self._rng.random())
        for model in sorted(shares):
            if u < shares[model]:
                return model
            u -= shares[model]
        return None
