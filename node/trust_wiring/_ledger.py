"""The reputation book, persisted in the node's SQLite store and replayed at start.

Every piece of evidence is written to the store's ``evidence`` table in trust form
(kind, sub-kind in the detail, the weight it carried) and applied to the in-memory
``ReputationBook``. At start the stored rows are replayed by ``peermind.trust.replay_rows``
(on a clock pinned to each row's time, canary verdicts with their log-likelihood ratio),
so decay and bans come out as if the node had never stopped. The ledger also notices
standing changes (for metrics and for the "excluded after N interactions" figure).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from peermind.trust import (
    Evidence,
    EvidenceEvent,
    EvidenceRecord,
    InvalidInput,
    ReplayClock,
    ReputationBook,
    Standing,
    TrustParams,
    replay_horizon_s,
    replay_rows,
)

from ..errors import NodeError
from ..store import Store

log = logging.getLogger("peermind.node.trust")

__all__ = ["Exclusion", "TrustLedger"]

EXCLUDED = (Standing.DO_NOT_ASK, Standing.BANNED)


@dataclass(frozen=True)
class Exclusion:
    """When a peer first fell below the ask threshold, and after how many records."""

    peer: str
    at: float
    interactions: int
    standing: str


StandingListener = Callable[[str, Standing, Standing], None]


class TrustLedger:
    """ReputationBook + store rows + standing-change notifications."""

    def __init__(
        self,
        params: TrustParams,
        store: Store | None,
        *,
        now: Callable[[], float] = time.time,
        on_standing: StandingListener | None = None,
    ) -> None:
        self.clock = ReplayClock(now)
        self.book = ReputationBook(params, now=self.clock)
        self.params = params
        self._store = store
        self._on_standing = on_standing
        self.exclusions: dict[str, Exclusion] = {}
        self.write_failures = 0

    # ------------------------------------------------------------------ recording
    def observe(self, event: EvidenceEvent) -> EvidenceRecord | None:
        """Record one observation of the node, dated by this ledger's clock (None, logged: unusable)."""
        try:
            record = event.to_record(self.clock())
        except InvalidInput as exc:
            log.warning("ignored evidence the trust book cannot use", extra={"peer": event.peer, "error": str(exc)})
            return None
        self.record(record)
        return record

    def evidence(self, peer: str, kind: Evidence, detail: str = "") -> EvidenceRecord:
        """A record dated by this ledger's clock (so tests and replays share one time)."""
        return EvidenceRecord(peer, kind, at=self.clock(), detail=detail)

    def record(self, record: EvidenceRecord) -> float:
        """Apply ``record`` to the book, persist it, and report a standing change."""
        score = self._apply(record, notify=True)
        if self._store is not None:
            try:
                self._store.add_evidence(
                    peer=record.peer,
                    kind=record.kind.value,
                    weight=record.llr if record.llr is not None else self.params.weight_of(record),
                    detail=record.detail,
                    at=record.at,
                )
            except NodeError:
                self.write_failures += 1
                log.exception("could not store trust evidence (the book still has it)")
        return score

    def _apply(self, record: EvidenceRecord, *, notify: bool) -> float:
        before = self.book.standing(record.peer)
        score = self.book.record(record)
        after = self.book.standing(record.peer)
        if after in EXCLUDED and record.peer not in self.exclusions:
            self.exclusions[record.peer] = Exclusion(
                record.peer, self.clock(), self.book.interactions(record.peer), after.value
            )
        if notify and after is not before and self._on_standing is not None:
            self._on_standing(record.peer, before, after)
        return score

    # ------------------------------------------------------------------ replay
    def load(self) -> int:
        """Replay the stored evidence of the last horizon; returns the rows applied."""
        if self._store is None:
            return 0
        since = self.clock() - replay_horizon_s(self.params)
        try:
            rows = self._store.evidence_rows(since=since)
        except NodeError:
            log.exception("could not read stored trust evidence; starting with an empty book")
            return 0
        count = replay_rows(rows, self.clock, lambda record: self._apply(record, notify=False))
        if count.applied or count.skipped:
            log.info("trust book replayed", extra={"rows": count.applied, "skipped": count.skipped,
                                                   "peers": len(self.book)})
        return count.applied
