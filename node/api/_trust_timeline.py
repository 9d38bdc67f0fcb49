"""Reputation over time per peer, replayed from the node's own evidence log.

Why replay instead of asking the live reputation book: the book only knows each peer's
score *now*; the console's trust panel draws how it got there. Feeding the stored evidence
rows, in order, into a ``ReputationBook`` whose clock is set to each row's time gives the
exact score the node's formula assigned after every piece of evidence. The replay is
incremental (only rows newer than the last one read), so polling it every second is cheap.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from typing import Protocol

from peermind.trust import EvidenceRecord, ReputationBook, StoredEvidence, TrustError, TrustParams

__all__ = ["TrustTimeline"]


class _EvidenceRow(StoredEvidence, Protocol):
    """A stored evidence row with its id (the timeline pages by it)."""

    @property
    def id(self) -> int: ...


class _EvidenceSource(Protocol):
    def evidence_rows(self, peer: str | None = None, since: float | None = None) -> Sequence[_EvidenceRow]: ...


class TrustTimeline:
    """Per-peer (time, score) samples plus evidence counts, kept up to date from a store."""

    def __init__(self, params: TrustParams | None = None, *, window_s: float = 24 * 3600.0, points: int = 120) -> None:
        self.params = params or TrustParams()
        self.window_s = window_s
        self._clock = 0.0
        self._book = ReputationBook(self.params, now=lambda: self._clock)
        self._history: dict[str, deque[tuple[float, float]]] = {}
        self._counts: dict[str, Counter[str]] = {}
        self._signs: dict[str, Counter[str]] = {}
        self._points = points
        self._last_id = 0
        self._last_at: float | None = None
        self.unscored = 0  # rows the trust package rejected (unknown kind, malformed peer ID)

    def update(self, store: _EvidenceSource) -> None:
        """Read and replay the rows added since the last call."""
        since = self._last_at if self._last_at is not None else time.time() - self.window_s
        rows = [r for r in store.evidence_rows(since=since) if r.id > self._last_id]
        self.replay(rows)

    def replay(self, rows: Iterable[_EvidenceRow]) -> None:
        for row in rows:
            self._last_id = max(self._last_id, row.id)
            self._last_at = row.at if self._last_at is None else max(self._last_at, row.at)
            try:
                record = EvidenceRecord(peer=row.peer, kind=row.kind, at=row.at, detail=row.detail or "")
            except TrustError:
                self.unscored += 1
                continue
            self._clock = max(self._clock, row.at)
            score = self._book.record(record)
            self._history.setdefault(row.peer, deque(maxlen=self._points)).append((row.at, score))
            self._counts.setdefault(row.peer, Counter())[record.kind.value] += 1
            sign = "positive" if self.params.weight_of(record) > 0 else "negative"
            self._signs.setdefault(row.peer, Counter())[sign] += 1

    def peers(self, now: float | None = None) -> dict[str, dict[str, object]]:
        """Each peer's current score and standing, its samples and evidence counts."""
        self._clock = max(self._clock, now if now is not None else time.time())
        out: dict[str, dict[str, object]] = {}
        for peer, samples in self._history.items():
            score = self._book.score(peer)
            signs = self._signs.get(peer, Counter())
            out[peer] = {
                "score": round(score, 4),
                "standing": self._book.standing(peer).value,
                "history": [[round(t, 3), round(s, 4)] for t, s in samples] + [[round(self._clock, 3), round(score, 4)]],
                "evidence": {
                    "total": sum(signs.values()),
                    "positive": signs.get("positive", 0),
                    "negative": signs.get("negative", 0),
                    "by_kind": dict(self._counts.get(peer, Counter())),
                },
            }
        return out

    def thresholds(self) -> dict[str, float]:
        p = self.params
        return {
            "prior": round(p.prior_mean, 4),
            "ask": p.ask_threshold,
            "ban": p.ban_threshold,
            "trusted": p.trusted_threshold,
        }
