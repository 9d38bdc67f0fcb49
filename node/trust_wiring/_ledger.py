"""The reputation book, persisted in the node's SQLite store and replayed at start.

Every piece of evidence is written to the store's ``evidence`` table in trust form
(kind, sub-kind in the detail, the weight it carried) and applied to the in-memory
``ReputationBook``. At start the rows of the last ``horizon`` are replayed in order on a
clock pinned to each row's time, so decay and bans come out as if the node had never
stopped. A canary verdict judged by the sequential test carries its log-likelihood
ratio (``EvidenceRecord.llr``): it is stored as the row's weight and written at the head
of its detail (``llr -0.560; canary ...``), from which replay restores it. The ledger also
notices standing changes (for metrics and for the "excluded after N interactions" figure).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from peermind.trust import (
    Evidence,
    EvidenceRecord,
    InvalidInput,
    ReputationBook,
    Standing,
    TrustParams,
)

from ..errors import NodeError
from ..store import Store
from ._evidence_map import to_record

log = logging.getLogger("peermind.node.trust")

__all__ = ["Exclusion", "ReplayClock", "TrustLedger", "canary_detail", "llr_of_detail", "replay_horizon_s"]

EXCLUDED = (Standing.DO_NOT_ASK, Standing.BANNED)
_LLR_HEAD = re.compile(r"^llr ([-+]?\d+(?:\.\d+)?);")


def canary_detail(llr: float, text: str) -> str:
    """A canary record's detail, led by its log-likelihood ratio (survives truncation, restored on replay)."""
    return f"llr {llr:+.4f}; {text}"


def llr_of_detail(detail: str) -> float | None:
    match = _LLR_HEAD.match(detail)
    return float(match.group(1)) if match else None


class ReplayClock:
    """Wall-clock time, except while replaying stored evidence (then: the row's time)."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self.pinned: float | None = None

    def __call__(self) -> float:
        return self._now() if self.pinned is None else self.pinned


@dataclass(frozen=True)
class Exclusion:
    """When a peer first fell below the ask threshold, and after how many records."""

    peer: str
    at: float
    interactions: int
    standing: str


StandingListener = Callable[[str, Standing, Standing], None]


def replay_horizon_s(params: TrustParams) -> float:
    """How far back stored evidence still matters: ten half-lives, or two longest bans."""
    return max(10 * params.half_life_s, 2 * params.max_ban_s)


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
    def observe(self, peer: str, kind: str, detail: str) -> EvidenceRecord | None:
        """Map and record one node observation; None (logged) if it cannot be a trust record."""
        try:
            record = to_record(peer, kind, detail, at=self.clock())
        except InvalidInput as exc:
            log.warning("ignored evidence the trust book cannot use", extra={"peer": peer, "error": str(exc)})
            return None
        if record is None:
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
        applied = skipped = 0
        try:
            for row in rows:
                try:
                    record = to_record(row.peer, row.kind, row.detail, at=row.at)
                except InvalidInput:
                    record = None
                if record is not None and record.kind in (Evidence.ANSWER_RIGHT, Evidence.ANSWER_WRONG):
                    record = dataclasses.replace(record, llr=llr_of_detail(row.detail))
                if record is None:
                    skipped += 1
                    continue
                self.clock.pinned = max(row.at, self.clock.pinned or 0.0)
                self._apply(record, notify=False)
                applied += 1
        finally:
            self.clock.pinned = None
        if applied or skipped:
            log.info("trust book replayed", extra={"rows": applied, "skipped": skipped, "peers": len(self.book)})
        return applied
