"""Canary policy and judging, cross-checks, and confidence calibration."""

from __future__ import annotations

import random

import pytest
from _trustpeers import Clock, pid
from peermind.trust import (
    CalibrationTracker,
    CanaryItem,
    CanaryPolicy,
    Evidence,
    EvidenceRecord,
    InvalidInput,
    PeerAnswer,
    ReputationBook,
    TrustParams,
    answers_match,
    cross_check,
    judge_canary,
)

A, B, C = pid("a"), pid("b"), pid("c")
ITEMS = [CanaryItem(f"q{i}", f"question {i}", f"answer {i}") for i in range(5)]


# -- canary policy -------------------------------------------------------------------------
def test_canary_rate_is_respected_and_reproducible_with_a_seeded_rng() -> None:
    policy = CanaryPolicy(0.2, random.Random(7))
    picks = [policy.pick(A, ITEMS) for _ in range(5000)]
    share = sum(p is not None for p in picks) / len(picks)
    assert share == pytest.approx(0.2, abs=0.02)
    again = CanaryPolicy(0.2, random.Random(7))
    assert [again.pick(A, ITEMS) for _ in range(5000)] == picks


def test_canaries_are_not_periodic() -> None:
    policy = CanaryPolicy(0.25, random.Random(1))
    positions = [i for i in range(400) if policy.pick(A, ITEMS) is not None]
    gaps = {b - a for a, b in zip(positions, positions[1:], strict=False)}
    assert len(gaps) > 5  # a fixed cadence would be a tell on the wire


def test_a_peer_sees_every_canary_once_before_any_repeats() -> None:
    policy = CanaryPolicy(1.0, random.Random(3))
    first_round = [policy.pick(A, ITEMS) for _ in ITEMS]
    assert sorted(item.item_id for item in first_round if item) == [i.item_id for i in ITEMS]
    assert policy.pick(A, ITEMS) in ITEMS  # then the cycle starts again
    assert policy.pick(B, ITEMS) in ITEMS  # tracked per peer


def test_no_items_or_zero_rate_means_no_canary() -> None:
    assert CanaryPolicy(1.0, random.Random(0)).pick(A, []) is None
    policy = CanaryPolicy(0.0, random.Random(0))
    assert all(policy.pick(A, ITEMS) is None for _ in range(100))


def test_canary_policy_rejects_bad_input() -> None:
    with pytest.raises(InvalidInput, match="probability"):
        CanaryPolicy(1.5, random.Random(0))
    with pytest.raises(InvalidInput, match="base58"):
        CanaryPolicy(0.5, random.Random(0)).pick("not a peer", ITEMS)
    with pytest.raises(InvalidInput, match="expected answer"):
        CanaryItem("x", "prompt", ())
    assert CanaryItem("x", "prompt", "Paris").expected == ("Paris",)


# -- judging canaries ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expected", "got"),
    [
        ("Paris", "paris"),
        ("Paris", "  Paris. "),
        ("Paris", "Paris, the capital of France"),
        ("B", "B"),
        ("B", "(b) because plants need light"),
        ("B", "The answer is B."),
        ("42", "Answer: 42"),
        (("4", "four"), "Four"),
        ("Café", "CAFÉ"),
    ],
)
def test_right_answers_are_recognised(expected: str | tuple[str, ...], got: str) -> None:
    assert judge_canary(expected, got) is Evidence.ANSWER_RIGHT


@pytest.mark.parametrize(
    ("expected", "got"),
    [
        ("Paris", "London"),
        ("Paris", "not Paris"),
        ("B", "A"),
        ("B", "a b c d"),  # listing every option must not pass
        ("4", "1 2 3 4 5"),
        ("4", "14"),
        ("Paris", ""),
        ("Paris", None),
        ("B", "The answer is A, not B"),
    ],
)
def test_wrong_or_hedged_answers_fail(expected: str, got: str | None) -> None:
    assert judge_canary(expected, got) is Evidence.ANSWER_WRONG


def test_judge_canary_needs_an_expected_answer() -> None:
    with pytest.raises(InvalidInput):
        judge_canary(" ", "x")


# -- cross-checks --------------------------------------------------------------------------
@pytest.fixture
def book() -> ReputationBook:
    clock = Clock()
    book = ReputationBook(TrustParams(), now=clock)
    for _ in range(5):
        book.record(EvidenceRecord(A, Evidence.ANSWER_RIGHT, at=clock.t))  # A well reputed
    book.record(EvidenceRecord(B, Evidence.TIMEOUT, at=clock.t))  # B below the prior
    return book


def kinds(records: list[EvidenceRecord]) -> set[tuple[str, Evidence]]:
    return {(r.peer, r.kind) for r in records}


def test_disagreement_is_recorded_against_the_lower_side_when_a_third_source_sides_against_it(
    book: ReputationBook,
) -> None:
    out = cross_check(
        PeerAnswer(A, "Paris"), PeerAnswer(B, "Lyon"), PeerAnswer(None, "paris"), book, at=1.0
    )
    assert kinds(out) == {(B, Evidence.CROSS_CHECK_DISAGREE), (A, Evidence.CROSS_CHECK_AGREE)}
    assert all(r.at == 1.0 for r in out)
    assert "this node" in next(r.detail for r in out if r.peer == B)


def test_argument_order_does_not_matter(book: ReputationBook) -> None:
    out = cross_check(
        PeerAnswer(B, "Lyon"), PeerAnswer(A, "Paris"), PeerAnswer(C, "Paris"), book, at=1.0
    )
    assert kinds(out) == {(B, Evidence.CROSS_CHECK_DISAGREE), (A, Evidence.CROSS_CHECK_AGREE)}


def test_a_low_reputation_pair_cannot_talk_down_a_better_reputed_peer(book: ReputationBook) -> None:
    out = cross_check(
        PeerAnswer(A, "Paris"), PeerAnswer(B, "Lyon"), PeerAnswer(C, "Lyon"), book, at=1.0
    )
    assert out == []


def test_no_evidence_without_a_tie_breaker(book: ReputationBook) -> None:
    assert (
        cross_check(
            PeerAnswer(A, "Paris"), PeerAnswer(B, "Lyon"), PeerAnswer(C, "Rome"), book, at=1.0
        )
        == []
    )
    assert (
        cross_check(PeerAnswer(A, "x"), PeerAnswer(B, "x"), PeerAnswer(C, "y"), book, at=1.0) == []
    )


def test_agreement_of_all_three_is_weak_positive_evidence_for_both(book: ReputationBook) -> None:
    out = cross_check(
        PeerAnswer(A, "Paris"), PeerAnswer(B, "paris!"), PeerAnswer(None, "Paris"), book, at=1.0
    )
    assert kinds(out) == {(A, Evidence.CROSS_CHECK_AGREE), (B, Evidence.CROSS_CHECK_AGREE)}


def test_equal_reputations_still_resolve_with_a_tie_breaker() -> None:
    book = ReputationBook(TrustParams(), now=Clock())
    out = cross_check(PeerAnswer(A, "1"), PeerAnswer(B, "2"), PeerAnswer(None, "2"), book, at=1.0)
    assert kinds(out) == {(A, Evidence.CROSS_CHECK_DISAGREE), (B, Evidence.CROSS_CHECK_AGREE)}


def test_a_custom_matcher_can_be_used(book: ReputationBook) -> None:
    def same_number(x: str, y: str) -> bool:
        return float(x) == float(y)

    out = cross_check(
        PeerAnswer(A, "4.0"),
        PeerAnswer(B, "5"),
        PeerAnswer(None, "4"),
        book,
        at=1.0,
        same=same_number,
    )
    assert (B, Evidence.CROSS_CHECK_DISAGREE) in kinds(out)
    assert answers_match("The  Answer!", "the answer")


def test_cross_check_rejects_dependent_sources(book: ReputationBook) -> None:
    with pytest.raises(InvalidInput, match="independent"):
        cross_check(PeerAnswer(A, "x"), PeerAnswer(B, "y"), PeerAnswer(A, "x"), book, at=1.0)
    with pytest.raises(InvalidInput, match="two different peers"):
        cross_check(PeerAnswer(A, "x"), PeerAnswer(A, "y"), PeerAnswer(None, "x"), book, at=1.0)
    with pytest.raises(InvalidInput, match="peer IDs"):
        cross_check(PeerAnswer(None, "x"), PeerAnswer(A, "y"), PeerAnswer(B, "x"), book, at=1.0)


# -- calibration ---------------------------------------------------------------------------
def test_overconfident_peer_is_flagged_once_per_window_of_fresh_evidence() -> None:
    tracker = CalibrationTracker(TrustParams())
    flags = [tracker.confidence_consistency(A, 0.95, i % 2 == 0) for i in range(10)]
    # 5 claims at 0.95, 60% right after the 5th: gap 0.35 > 0.3 -> flagged, window cleared
    assert flags[:4] == [None] * 4
    assert flags[4] is Evidence.CONFIDENCE_MISCALIBRATED
    assert flags.count(Evidence.CONFIDENCE_MISCALIBRATED) == 2


def test_calibrated_and_modest_peers_are_never_flagged() -> None:
    tracker = CalibrationTracker(TrustParams())
    rng = random.Random(5)
    for _ in range(300):
        assert tracker.confidence_consistency(A, 0.9, rng.random() < 0.9) is None
        assert (
            tracker.confidence_consistency(B, 0.5, False) is None
        )  # low confidence, wrong: honest
    gap = tracker.gap(A)
    assert gap is not None and abs(gap) < 0.3
    assert tracker.gap(B) is None


@pytest.mark.parametrize(
    ("confidence", "correct"), [(1.5, True), (float("nan"), True), (0.9, "yes")]
)
def test_calibration_rejects_bad_input(confidence: float, correct: object) -> None:
    with pytest.raises(InvalidInput):
        CalibrationTracker().confidence_consistency(A, confidence, correct)  # type: ignore[arg-type]
