"""Seeded simulations of whole peer behaviours against the default parameters.

Each uses the real CanaryPolicy, judge_canary and cross_check: the node-side
flow is (award task -> record timeliness -> maybe judge a canary or
cross-check the answer -> record).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from _trustpeers import Clock, pid
from peermind.trust import (
    CanaryItem,
    CanaryPolicy,
    Evidence,
    EvidenceRecord,
    PeerAnswer,
    ReputationBook,
    TrustParams,
    cross_check,
    judge_canary,
)

SEEDS = range(25)
ITEMS = [CanaryItem(f"c{i}", f"What is {i} + {i}?", str(2 * i)) for i in range(30)]
TARGET, WITNESS = pid("target"), pid("witness")


@dataclass
class Trace:
    """Score after every query, and the interaction count at which it first fell below a level."""

    book: ReputationBook
    scores: list[float] = field(default_factory=list)
    interactions: list[int] = field(default_factory=list)

    def first_below(self, level: float) -> int | None:
        for score, count in zip(self.scores, self.interactions, strict=True):
            if score < level:
                return count
        return None


# A behaviour answers one query: returns (kind of delivery, answer text given the right one).
Behaviour = Callable[[random.Random, str], tuple[Evidence, str]]


def honest(rng: random.Random, right: str) -> tuple[Evidence, str]:
    """10% of queries time out or are refused as busy; all answers right."""
    if rng.random() < 0.1:
        return rng.choice([Evidence.TIMEOUT, Evidence.REFUSAL_BUSY]), ""
    return Evidence.TASK_OK, right


def always_wrong(rng: random.Random, right: str) -> tuple[Evidence, str]:
    """Fast and always on time, never right (and "not X" must not pass a canary for X)."""
    return Evidence.TASK_OK, f"not {right}"


def simulate(
    behaviour: Behaviour,
    seed: int,
    queries: int = 100,
    *,
    canary_rate: float = 0.2,
    cross_check_rate: float = 0.2,
    book: ReputationBook | None = None,
    clock: Clock | None = None,
) -> Trace:
    rng = random.Random(seed)
    clock = clock or Clock()
    if book is None:
        book = ReputationBook(TrustParams(), now=clock)
        for _ in range(20):  # the node cross-checks against a peer it already knows well
            book.record(EvidenceRecord(WITNESS, Evidence.ANSWER_RIGHT, at=clock.t))
    policy = CanaryPolicy(canary_rate, random.Random(seed + 10_000))
    trace = Trace(book)
    for q in range(queries):
        clock.advance(60)
        canary = policy.pick(TARGET, ITEMS)
        right = canary.expected[0] if canary else f"answer {q}"
        delivery, answer = behaviour(rng, right)
        book.record(EvidenceRecord(TARGET, delivery, at=clock.t))
        if delivery is Evidence.TASK_OK:
            if canary is not None:
                verdict = judge_canary(canary.expected, answer)
                book.record(EvidenceRecord(TARGET, verdict, at=clock.t, detail=canary.item_id))
            elif rng.random() < cross_check_rate:
                book.record_many(
                    cross_check(
                        PeerAnswer(TARGET, answer),
                        PeerAnswer(WITNESS, right),
                        PeerAnswer(None, right),  # this node's own model agrees with the witness
                        book,
                        at=clock.t,
                    )
                )
        trace.scores.append(book.score(TARGET))
        trace.interactions.append(book.interactions(TARGET))
    return trace


@pytest.mark.parametrize("seed", SEEDS)
def test_honest_peer_with_occasional_timeouts_is_always_askable(seed: int) -> None:
    trace = simulate(honest, seed)
    params = trace.book.params
    assert trace.first_below(params.ask_threshold) is None
    assert min(trace.scores) > params.ask_threshold
    assert trace.book.should_ask(TARGET)
    assert trace.scores[-1] > params.prior_mean  # earned more than a newcomer


@pytest.mark.parametrize("seed", SEEDS)
def test_honest_peer_without_canaries_stays_askable_on_liveness_alone(seed: int) -> None:
    trace = simulate(honest, seed, canary_rate=0.0, cross_check_rate=0.0)
    assert trace.first_below(trace.book.params.ask_threshold) is None


@pytest.mark.parametrize("seed", SEEDS)
def test_always_wrong_peer_drops_below_ask_threshold_within_50_interactions(seed: int) -> None:
    trace = simulate(always_wrong, seed)
    dropped = trace.first_below(trace.book.params.ask_threshold)
    assert dropped is not None and dropped <= 50
    assert not trace.book.should_ask(TARGET)
    assert trace.book.counts(TARGET)[Evidence.ANSWER_WRONG] >= 1


def test_forger_drops_faster_than_an_always_wrong_peer_and_is_banned() -> None:
    clock = Clock()
    book = ReputationBook(TrustParams(), now=clock)
    drops: list[int] = []
    for _ in range(3):
        clock.advance(60)
        book.record(
            EvidenceRecord(TARGET, Evidence.PROTOCOL_VIOLATION, at=clock.t, detail="bad_signature")
        )
        if not book.should_ask(TARGET) and not drops:
            drops.append(book.interactions(TARGET))
    assert drops == [1]  # one forged signature is enough to stop asking
    assert book.is_banned(TARGET)  # three get it disconnected
    fastest_wrong = min(
        simulate(always_wrong, seed).first_below(book.params.ask_threshold) or 999 for seed in SEEDS
    )
    assert drops[0] < fastest_wrong


def test_trusted_peer_turning_bad_loses_trust_because_merit_is_capped() -> None:
    clock = Clock()
    book = ReputationBook(TrustParams(), now=clock)
    simulate(honest, 1, queries=300, book=book, clock=clock)
    assert book.standing(TARGET).value == "trusted"
    before = book.interactions(TARGET)
    trace = simulate(always_wrong, 2, queries=200, book=book, clock=clock)
    dropped = trace.first_below(book.params.ask_threshold)
    assert dropped is not None and dropped - before <= 150

    # Without the cap the same history would keep it askable far longer.
    uncapped_clock = Clock()
    uncapped = ReputationBook(TrustParams(max_evidence_mass=1e9), now=uncapped_clock)
    simulate(honest, 1, queries=300, book=uncapped, clock=uncapped_clock)
    slow = simulate(always_wrong, 2, queries=200, book=uncapped, clock=uncapped_clock)
    slow_drop = slow.first_below(book.params.ask_threshold)
    assert slow_drop is None or slow_drop - before > dropped - before


def test_a_shunned_peer_is_forgiven_slowly_once_it_stops_misbehaving() -> None:
    clock = Clock()
    trace = simulate(always_wrong, 3, clock=clock)
    book = trace.book
    assert not book.should_ask(TARGET)
    clock.advance(book.params.half_life_s)
    assert not book.should_ask(TARGET)  # one half-life is not enough
    clock.advance(10 * book.params.half_life_s)
    assert book.should_ask(TARGET) and book.score(TARGET) < book.params.prior_mean + 0.01
