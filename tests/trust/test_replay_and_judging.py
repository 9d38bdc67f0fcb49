"""Trust policy that used to live in the node: stored rows replay, known answers judged, allowances."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from peermind.trust import (
    Evidence,
    KnownAnswerJudge,
    ModelBaseline,
    ReplayClock,
    ReputationBook,
    TrustParams,
    abuse_params,
    canary_detail,
    gossip_allowances,
    record_from_row,
    replay_rows,
)

A = "12D3KooWDtaXV2cRp8gxRqErs5PGERLzQCiS4hntpNGjfJYNBzKa"
B = "12D3KooWH3bjCG6jwuDn9vbkDcoBgE23f4Zroqo6F3dsJERfqwsF"


@dataclass(frozen=True)
class Row:
    peer: str
    kind: str
    detail: str
    at: float


def test_rows_replay_on_their_own_clock_with_canary_ratios_and_bad_rows_skipped() -> None:
    rows = [Row(A, "protocol_violation", "bad_signature: BadSignature: forged", 100.0),
            Row(A, "answer_wrong", canary_detail(-0.9, "canary q1"), 160.0),
            Row("not a peer!", "task_ok", "", 170.0), Row(B, "mystery", "", 180.0)]
    clock = ReplayClock(lambda: 10_000.0)
    book = ReputationBook(TrustParams(), now=clock)
    seen: list[float] = []
    count = replay_rows(rows, clock, lambda r: (seen.append(clock()), book.record(r)))
    assert (count.applied, count.skipped) == (2, 2)
    assert seen == [100.0, 160.0] and clock() == 10_000.0  # unpinned afterwards
    assert book.canary_llr(A) < 0 and book.counts(A)[Evidence.PROTOCOL_VIOLATION] == 1
    legacy = record_from_row(Row(A, "answer_right", "canary without a ratio", 1.0))
    assert legacy is not None and legacy.llr is None


def test_known_answers_are_judged_against_the_model_without_the_judged_or_excluded_peers() -> None:
    baseline = ModelBaseline(own_model="m")
    excluded = {B}
    judge = KnownAnswerJudge(TrustParams(), baseline, askable=lambda p: p not in excluded)
    for _ in range(20):  # B (excluded) claims model "m" and always misses: it must not lower the bar
        baseline.add("m", B, False)
    bar = judge.expected_accuracy("m", A, choices=4)
    for _ in range(20):
        baseline.add("m", A, False)  # nor may A lower its own
    assert judge.expected_accuracy("m", A, choices=4) == pytest.approx(bar)
    wrong = judge.judge(A, "m", 4, False, None, "canary q", at=5.0)
    right = judge.judge(A, "m", 4, True, True, "canary q2", at=6.0)
    assert wrong.kind is Evidence.ANSWER_WRONG and wrong.llr is not None and wrong.llr < 0
    assert right.kind is Evidence.ANSWER_RIGHT and right.llr is not None and right.llr > 0
    assert wrong.detail.startswith("llr ") and "m expected" in wrong.detail and "mine right" in right.detail


def test_allowances_follow_the_honest_pace_and_abuse_tiers_sit_above_them() -> None:
    rates = gossip_allowances(ad_republish_s=30.0, opinion_interval_s=60.0)
    assert rates["ad_rate"] == 8.0 and rates["opinion_rate"] == pytest.approx(8 / 60)
    params = TrustParams(**rates)
    abuse = abuse_params(params)
    assert abuse.request_rate == 2 * params.request_rate and abuse.ad_burst == 4 * params.ad_burst
