"""The reputation book persisted in a real SQLite store and replayed at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from peermind.node.store import Store
from peermind.node.trust_wiring import TrustLedger
from peermind.trust import (
    Evidence,
    EvidenceEvent,
    EvidenceRecord,
    Standing,
    TrustParams,
    ViolationKind,
    ViolationSource,
    canary_detail,
    llr_of_detail,
)

A = "12D3KooWDtaXV2cRp8gxRqErs5PGERLzQCiS4hntpNGjfJYNBzKa"
B = "12D3KooWH3bjCG6jwuDn9vbkDcoBgE23f4Zroqo6F3dsJERfqwsF"
HOUR = 3600.0


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _ledger(path: Path, clock: Clock, changes: list[tuple[str, Standing, Standing]] | None = None) -> TrustLedger:
    store = Store.open(path / "node.db")
    sink = (lambda p, a, b: changes.append((p, a, b))) if changes is not None else None
    return TrustLedger(TrustParams(), store, now=clock, on_standing=sink)


def test_evidence_is_stored_in_trust_form_and_replayed_to_the_same_scores(tmp_path: Path) -> None:
    clock = Clock(1_000_000.0)
    ledger = _ledger(tmp_path, clock)
    ledger.observe(EvidenceEvent(A, Evidence.PROTOCOL_VIOLATION, "MalformedEnvelope: garbage", ViolationKind.SCHEMA,
                                 ViolationSource.REPLY))
    for _ in range(5):
        ledger.observe(EvidenceEvent(B, Evidence.TASK_OK, "120 ms"))
        ledger.record(EvidenceRecord(B, Evidence.ANSWER_RIGHT, at=clock.t))
    rows = Store.open(tmp_path / "node.db").evidence_rows()
    assert rows[0].kind == "protocol_violation"
    assert rows[0].detail.startswith("schema: reply: MalformedEnvelope")
    assert rows[0].weight == -3.0
    clock.t += HOUR
    restarted = _ledger(tmp_path, clock)
    assert restarted.load() == 11
    for peer in (A, B):
        assert abs(restarted.book.score(peer) - ledger.book.score(peer)) < 1e-12
        assert restarted.book.standing(peer) is ledger.book.standing(peer)


def test_bans_replay_on_their_original_clock(tmp_path: Path) -> None:
    clock = Clock(2_000_000.0)
    ledger = _ledger(tmp_path, clock)
    for _ in range(3):
        ledger.observe(EvidenceEvent(A, Evidence.PROTOCOL_VIOLATION, "BadSignature: forged",
                                     ViolationKind.BAD_SIGNATURE))
    assert ledger.book.is_banned(A)
    clock.t += 0.5 * HOUR  # still inside the 1 h cool-down after a restart
    assert _load(tmp_path, clock).book.is_banned(A)
    clock.t += 2 * HOUR  # the cool-down ran out while the node was down
    later = _load(tmp_path, clock)
    assert not later.book.is_banned(A)
    assert later.book.standing(A) is Standing.DO_NOT_ASK  # the score stays low


def _load(path: Path, clock: Clock) -> TrustLedger:
    ledger = _ledger(path, clock)
    ledger.load()
    return ledger


def test_standing_changes_are_reported_and_the_first_exclusion_remembered(tmp_path: Path) -> None:
    clock = Clock(3_000_000.0)
    changes: list[tuple[str, Standing, Standing]] = []
    ledger = _ledger(tmp_path, clock, changes)
    ledger.observe(EvidenceEvent(A, Evidence.TASK_OK, "fine"))
    for i in range(3):  # -5 each with the default weights
        ledger.record(EvidenceRecord(A, Evidence.ANSWER_WRONG, at=clock.t, detail=f"canary {i}"))
    assert ledger.book.standing(A) is Standing.DO_NOT_ASK
    assert changes == [(A, Standing.PROBATION, Standing.DO_NOT_ASK)]
    exclusion = ledger.exclusions[A]
    assert exclusion.standing == "do_not_ask"
    assert exclusion.interactions == 3  # task_ok + two failed canaries
    assert ledger.book.interactions(A) == 4
    # replaying finds the same first exclusion without re-announcing changes
    quiet: list[tuple[str, Standing, Standing]] = []
    replayed = _ledger(tmp_path, clock, quiet)
    replayed.load()
    assert replayed.exclusions[A].interactions == exclusion.interactions
    assert quiet == []


def test_rows_it_cannot_use_are_skipped_not_fatal(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "node.db")
    store.add_evidence(peer="not-a-peer-id!", kind="task_ok", detail="", at=1.0)
    store.add_evidence(peer=A, kind="mystery_kind", detail="", at=2.0)
    store.add_evidence(peer=A, kind="task_ok", detail="", at=3.0)
    ledger = TrustLedger(TrustParams(), store, now=Clock(10.0))
    assert ledger.load() == 1
    assert ledger.book.interactions(A) == 1


def test_canary_verdicts_of_the_sequential_test_replay_with_their_likelihood_ratios(tmp_path: Path) -> None:
    clock = Clock(1_000_000.0)
    ledger = _ledger(tmp_path, clock)
    for llr in (-0.9, -0.9, 1.39, -0.9, -0.9, -0.9, -0.9, -0.9):
        clock.t += 60
        ledger.record(EvidenceRecord(A, Evidence.ANSWER_WRONG if llr < 0 else Evidence.ANSWER_RIGHT, at=clock.t,
                                     detail=canary_detail(llr, "canary arc_easy/q1: answered '2', gold 1"), llr=llr))
    ledger.record(EvidenceRecord(B, Evidence.ANSWER_RIGHT, at=clock.t, detail="old row: no ratio"))  # legacy form
    rows = Store.open(tmp_path / "node.db").evidence_rows(peer=A)
    assert [r.weight for r in rows][:3] == [-0.9, -0.9, 1.39] and rows[0].detail.startswith("llr -0.9000; canary")
    assert llr_of_detail(rows[0].detail) == -0.9 and llr_of_detail("canary x") is None
    clock.t += HOUR
    before = (ledger.book.score(A), ledger.book.canary_llr(A), ledger.book.standing(A), ledger.book.score(B))
    assert before[2] is Standing.DO_NOT_ASK
    again = _ledger(tmp_path, clock)
    assert again.load() == 9
    after = (again.book.score(A), again.book.canary_llr(A), again.book.standing(A), again.book.score(B))
    assert after[0] == pytest.approx(before[0], rel=1e-3) and after[1] == pytest.approx(before[1], rel=1e-3)
    assert after[2] is Standing.DO_NOT_ASK and after[3] == pytest.approx(before[3], rel=1e-3)
