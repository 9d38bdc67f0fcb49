"""Stored evidence rows back into a ReputationBook, as if the node had never stopped.

The node persists every record as a plain row (peer, kind, weight, detail, at). At
start the rows of the last ``replay_horizon_s`` are applied in order on a clock pinned
to each row's time, so decay and bans come out as they would have. A canary verdict
judged by the sequential test carries its log-likelihood ratio; it is written at the
head of the row's detail (``llr -0.5596; canary ...``) by ``canary_detail`` and read
back here, so the verdict replays as a test step, not as a Beta weight.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from ._errors import InvalidInput
from ._evidence import Evidence, EvidenceRecord
from ._params import TrustParams

__all__ = [
    "ReplayClock",
    "ReplayCount",
    "StoredEvidence",
    "canary_detail",
    "llr_of_detail",
    "record_from_row",
    "replay_horizon_s",
    "replay_rows",
]

_LLR_HEAD = re.compile(r"^llr ([-+]?\d+(?:\.\d+)?);")


def canary_detail(llr: float, text: str) -> str:
    """A canary record's detail, led by its log-likelihood ratio (survives truncation, restored on replay)."""
    return f"llr {llr:+.4f}; {text}"


def llr_of_detail(detail: str) -> float | None:
    """The log-likelihood ratio at the head of a canary record's detail (None if it has none)."""
    match = _LLR_HEAD.match(detail)
    return float(match.group(1)) if match else None


def replay_horizon_s(params: TrustParams) -> float:
    """How far back stored evidence still matters: ten half-lives, or two longest bans."""
    return max(10 * params.half_life_s, 2 * params.max_ban_s)


class StoredEvidence(Protocol):
    """One stored evidence row, as the node's store returns it."""

    @property
    def peer(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def at(self) -> float: ...


def record_from_row(row: StoredEvidence) -> EvidenceRecord | None:
    """The record a stored row was written from (None: a row this version cannot use)."""
    try:
        record = EvidenceRecord(row.peer, Evidence(row.kind), at=row.at, detail=row.detail)
    except (InvalidInput, ValueError):
        return None
    if record.kind in (Evidence.ANSWER_RIGHT, Evidence.ANSWER_WRONG):
        llr = llr_of_detail(row.detail)
        if llr is not None:
            return EvidenceRecord(record.peer, record.kind, at=record.at, detail=record.detail, llr=llr)
    return record


class ReplayClock:
    """Wall-clock time, except while replaying stored evidence (then: the row's time)."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self.pinned: float | None = None

    def __call__(self) -> float:
        return self._now() if self.pinned is None else self.pinned


@dataclass(frozen=True)
class ReplayCount:
    applied: int
    skipped: int


def replay_rows(rows: Iterable[StoredEvidence], clock: ReplayClock,
                apply: Callable[[EvidenceRecord], object]) -> ReplayCount:
    """Apply ``rows`` in order through ``apply``, with ``clock`` pinned to each row's time."""
    applied = skipped = 0
    try:
        for row in rows:
            record = record_from_row(row)
            if record is None:
                skipped += 1
                continue
            clock.pinned = max(row.at, clock.pinned or 0.0)
            apply(record)
            applied += 1
    finally:
        clock.pinned = None
    return ReplayCount(applied, skipped)
