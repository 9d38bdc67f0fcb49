"""ReputationBook: formula, decay, standing, bans, explain, persistence rows, gossip score."""

from __future__ import annotations

import time

import pytest
from _trustpeers import Clock, pid
from peermind.trust import (
    Evidence,
    EvidenceRecord,
    GlobalTrust,
    InvalidInput,
    ReputationBook,
    Standing,
    TrustParams,
    UnknownPeer,
)

A, B = pid("a"), pid("b")
HOUR = 3600.0


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def book(clock: Clock) -> ReputationBook:
    return ReputationBook(TrustParams(), now=clock)


def rec(peer: str, kind: Evidence, at: float, **kw: object) -> EvidenceRecord:
    return EvidenceRecord(peer, kind, at=at, **kw)  # type: ignore[arg-type]


def test_unknown_peer_scores_the_newcomer_prior_and_is_on_probation(book: ReputationBook) -> None:
    assert book.score(A) == pytest.approx(0.3)
    assert book.standing(A) is Standing.PROBATION
    assert book.should_ask(A) and not book.is_banned(A)
    assert book.interactions(A) == 0 and book.counts(A) == {}
    with pytest.raises(UnknownPeer, match="no evidence recorded.*prior 0.30"):
        book.explain(A)


def test_score_follows_the_documented_beta_formula(book: ReputationBook, clock: Clock) -> None:
    book.record(rec(A, Evidence.ANSWER_RIGHT, clock.t))
    book.record(rec(A, Evidence.ANSWER_RIGHT, clock.t))
    book.record(rec(A, Evidence.TIMEOUT, clock.t))
    # (1.5 + 2) / (1.5 + 3.5 + 2 + 0.5)
    assert book.score(A) == pytest.approx(3.5 / 7.5)


def test_masses_halve_every_half_life_so_scores_relax_to_the_prior(
    book: ReputationBook, clock: Clock
) -> None:
    for _ in range(4):
        book.record(rec(A, Evidence.ANSWER_WRONG, clock.t))
    bad = book.score(A)
    clock.advance(book.params.half_life_s)
    assert book.explain(A).negative_mass == pytest.approx(10.0)
    assert bad < book.score(A) == pytest.approx(1.5 / (5 + 10))
    clock.advance(30 * book.params.half_life_s)
    assert book.score(A) == pytest.approx(0.3, abs=1e-6)


def test_old_evidence_recorded_late_is_decayed_by_its_age(
    book: ReputationBook, clock: Clock
) -> None:
    book.record(rec(A, Evidence.ANSWER_RIGHT, clock.t))
    book.record(rec(A, Evidence.ANSWER_RIGHT, clock.t - book.params.half_life_s))
    assert book.explain(A).positive_mass == pytest.approx(1.5)


def test_future_dated_evidence_is_clamped_to_now(book: ReputationBook, clock: Clock) -> None:
    book.record(rec(A, Evidence.ANSWER_RIGHT, clock.t + 1e9))
    clock.advance(book.params.half_life_s)
    assert book.explain(A).positive_mass == pytest.approx(0.5)
    assert book.explain(A).last_seen == pytest.approx(clock.t - book.params.half_life_s)


def test_evidence_memory_is_capped_so_merit_cannot_be_banked(
    book: ReputationBook, clock: Clock
) -> None:
    cap = book.params.max_evidence_mass
    for _ in range(int(cap) + 20):
        book.record(rec(A, Evidence.ANSWER_RIGHT, clock.t))
    assert book.explain(A).positive_mass == pytest.approx(cap)
    assert book.score(A) == pytest.approx((1.5 + cap) / (5 + cap))
    book.record(rec(A, Evidence.ANSWER_WRONG, clock.t))  # cap + 5, scaled back to cap
    exp = book.explain(A)
    shrink = cap / (cap + 5)
    assert (exp.positive_mass, exp.negative_mass) == pytest.approx((cap * shrink, 5 * shrink))
    assert exp.kinds[Evidence.ANSWER_RIGHT].positive_mass == pytest.approx(cap * shrink)
    assert book.score(A) == pytest.approx((1.5 + cap * shrink) / (5 + cap))


def test_standing_moves_from_probation_to_ok_to_trusted(book: ReputationBook, clock: Clock) -> None:
    for _ in range(9):
        book.record(rec(A, Evidence.TASK_OK, clock.t))
    assert book.standing(A) is Standing.PROBATION
    book.record(rec(A, Evidence.TASK_OK, clock.t))
    assert book.standing(A) is Standing.OK
    for _ in range(20):
        book.record(rec(A, Evidence.ANSWER_RIGHT, clock.t))
    assert book.standing(A) is Standing.TRUSTED


def test_do_not_ask_below_the_ask_threshold(book: ReputationBook, clock: Clock) -> None:
    book.record(rec(A, Evidence.ANSWER_WRONG, clock.t))
    assert book.should_ask(A)  # one failed canary is not yet damning for a newcomer
    book.record(rec(A, Evidence.ANSWER_WRONG, clock.t))
    assert book.params.ban_threshold < book.score(A) < book.params.ask_threshold
    assert book.standing(A) is Standing.DO_NOT_ASK
    assert not book.should_ask(A) and not book.is_banned(A)


def test_ban_has_a_cool_down_that_doubles_for_repeat_offenders(
    book: ReputationBook, clock: Clock
) -> None:
    p = book.params
    for _ in range(3):
        book.record(rec(A, Evidence.PROTOCOL_VIOLATION, clock.t, detail="bad_signature"))
    assert book.standing(A) is Standing.BANNED
    assert book.ban_until(A) == pytest.approx(clock.t + p.ban_cooldown_s)
    assert book.explain(A).banned_until == book.ban_until(A)
    clock.advance(p.ban_cooldown_s + 1)
    assert not book.is_banned(A) and book.ban_until(A) is None
    assert book.standing(A) is Standing.DO_NOT_ASK  # out of the ban, still not asked
    book.record(rec(A, Evidence.TIMEOUT, clock.t))  # misbehaves again
    assert book.ban_until(A) == pytest.approx(clock.t + 2 * p.ban_cooldown_s)
    assert book.explain(A).ban_count == 2


def test_positive_evidence_never_starts_a_ban(clock: Clock) -> None:
    params = TrustParams()
    book = ReputationBook(params, now=clock)
    book.record(rec(A, Evidence.UPDATE_OUTLIER, clock.t, weight_override=-20.0))
    book.record(rec(A, Evidence.UPDATE_OUTLIER, clock.t, weight_override=-20.0))
    assert book.is_banned(A)
    clock.advance(params.ban_cooldown_s + 1)
    book.record(rec(A, Evidence.TASK_OK, clock.t))
    assert book.score(A) < params.ban_threshold and not book.is_banned(A)


def test_counts_interactions_and_explanation(book: ReputationBook, clock: Clock) -> None:
    book.record(rec(A, Evidence.TASK_OK, clock.t, detail="task 1"))
    book.record(rec(A, Evidence.TASK_OK, clock.t, detail="task 2"))
    book.record(rec(A, Evidence.REFUSAL_BUSY, clock.t, detail="busy"))
    assert book.counts(A) == {Evidence.TASK_OK: 2, Evidence.REFUSAL_BUSY: 1}
    assert book.counts(A)["task_ok"] == 2  # StrEnum keys answer to plain strings
    assert book.interactions(A) == 3
    exp = book.explain(A)
    assert exp.score == pytest.approx(book.score(A))
    assert exp.standing is Standing.PROBATION
    assert exp.kinds[Evidence.TASK_OK].count == 2
    assert exp.kinds[Evidence.TASK_OK].positive_mass == pytest.approx(0.1)
    assert exp.kinds[Evidence.REFUSAL_BUSY].negative_mass == pytest.approx(0.05)
    assert [r.detail for r in exp.recent] == ["task 1", "task 2", "busy"]
    data = exp.to_dict()
    assert data["standing"] == "probation" and data["kinds"]["task_ok"]["count"] == 2
    assert data["recent"][0]["kind"] == "task_ok"


def test_explain_keeps_only_the_latest_events(clock: Clock) -> None:
    book = ReputationBook(TrustParams(recent_events=3), now=clock)
    for i in range(10):
        book.record(rec(A, Evidence.TASK_OK, clock.t, detail=str(i)))
    assert [r.detail for r in book.explain(A).recent] == ["7", "8", "9"]


def test_snapshot_rows_are_flat_and_load_restores_the_same_state(
    book: ReputationBook, clock: Clock
) -> None:
    for kind in (Evidence.ANSWER_RIGHT, Evidence.TIMEOUT, Evidence.TASK_OK):
        book.record(rec(A, kind, clock.t))
    for _ in range(3):
        book.record(rec(B, Evidence.PROTOCOL_VIOLATION, clock.t, detail="bad_signature"))
    rows = book.snapshot()
    assert [r["peer"] for r in rows] == sorted([A, B])
    assert all(isinstance(v, str | int | float) for r in rows for v in r.values())
    clock.advance(HOUR / 2)
    restored = ReputationBook(book.params, now=clock)
    restored.load(rows)
    for peer in (A, B):
        assert restored.score(peer) == pytest.approx(book.score(peer))
        assert restored.standing(peer) is book.standing(peer)
        assert restored.counts(peer) == book.counts(peer)
        assert restored.explain(peer).recent == book.explain(peer).recent
    assert restored.is_banned(B)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("peer", "not base58!", "not a base58 peer ID"),
        ("interactions", -1, "non-negative integer"),
        ("positive", "{not json", "not valid JSON"),
        ("counts", '{"bogus": 1}', "unknown evidence kind"),
        ("negative", '{"timeout": -1}', ">= 0"),
        ("recent", '{"a": 1}', "JSON list"),
        ("as_of", None, "finite number"),
    ],
)
def test_load_rejects_bad_rows_and_keeps_the_old_state(
    book: ReputationBook, clock: Clock, column: str, value: object, message: str
) -> None:
    book.record(rec(A, Evidence.ANSWER_RIGHT, clock.t))
    before = book.snapshot()
    row = dict(before[0])
    row[column] = value
    with pytest.raises(InvalidInput, match=message):
        book.load([row])
    assert book.snapshot() == before
    del row[column]
    if column in ("peer", "interactions", "as_of"):
        with pytest.raises(InvalidInput, match="lacks"):
            book.load([row])


def test_prune_forgets_idle_unbanned_peers(book: ReputationBook, clock: Clock) -> None:
    book.record(rec(A, Evidence.TASK_OK, clock.t))
    for _ in range(2):
        book.record(rec(B, Evidence.FLOOD, clock.t, weight_override=-20))
    assert book.is_banned(B)
    clock.advance(HOUR / 4)
    assert book.prune(idle_s=HOUR / 2) == []
    clock.advance(HOUR / 2)
    assert book.prune(idle_s=HOUR / 2) == [A]  # B is still serving its one-hour ban
    assert A not in book and B in book and len(book) == 1


def test_gossip_score_is_negative_for_bad_peers_and_positive_for_trusted(
    book: ReputationBook, clock: Clock
) -> None:
    good, newcomer, shunned, banned = pid("good"), pid("new"), pid("shunned"), pid("banned")
    for _ in range(30):
        book.record(rec(good, Evidence.ANSWER_RIGHT, clock.t))
    book.record(rec(newcomer, Evidence.TASK_OK, clock.t))
    book.record(rec(shunned, Evidence.ANSWER_WRONG, clock.t))
    book.record(rec(shunned, Evidence.ANSWER_WRONG, clock.t))
    for _ in range(3):
        book.record(rec(banned, Evidence.PROTOCOL_VIOLATION, clock.t, detail="bad_signature"))
    p = book.params
    assert book.gossip_score(good) == p.gossip_trusted > 0
    assert book.gossip_score(newcomer) == 0.0
    assert book.gossip_score(shunned) == p.gossip_do_not_ask < 0
    assert book.gossip_score(banned) == p.gossip_banned < p.gossip_do_not_ask


def test_local_opinions_vouch_only_for_peers_above_the_prior(
    book: ReputationBook, clock: Clock
) -> None:
    strong, weak, fresh, bad = pid("strong"), pid("weak"), pid("fresh"), pid("bad")
    for _ in range(10):
        book.record(rec(strong, Evidence.ANSWER_RIGHT, clock.t))
    book.record(rec(weak, Evidence.ANSWER_RIGHT, clock.t))
    book.record(rec(fresh, Evidence.REFUSAL_BUSY, clock.t))
    book.record(rec(bad, Evidence.ANSWER_WRONG, clock.t))
    opinions = book.local_opinions()
    assert set(opinions) == {strong, weak}
    assert sum(opinions.values()) == pytest.approx(1.0)
    assert opinions[strong] > opinions[weak]
    assert ReputationBook(now=clock).local_opinions() == {}


def test_record_rejects_anything_but_an_evidence_record(book: ReputationBook) -> None:
    with pytest.raises(InvalidInput, match="EvidenceRecord"):
        book.record({"peer": A, "kind": "timeout"})  # type: ignore[arg-type]


def test_records_default_to_the_current_time() -> None:
    before = time.time()
    assert before <= EvidenceRecord(A, Evidence.TASK_OK).at <= time.time()


def test_opinions_rest_on_checked_answers_never_on_answers_on_time(
    book: ReputationBook, clock: Clock
) -> None:
    """Issue 12's loophole: a liar answering every task on time earned task_ok mass above the
    prior, so this node's opinion (and through EigenTrust the network's) vouched for it at
    start-up, before any canary judged it."""
    liar, honest, both = pid("liar"), pid("honest"), pid("both")
    for _ in range(30):
        book.record(rec(liar, Evidence.TASK_OK, clock.t))
        book.record(rec(both, Evidence.TASK_OK, clock.t))
        book.record(rec(both, Evidence.UPDATE_OK, clock.t))
    assert book.score(liar) > book.params.prior_mean  # liveness still counts for routing/admission
    book.record(EvidenceRecord(honest, Evidence.ANSWER_RIGHT, at=clock.t, llr=1.39))  # a judged canary
    book.record(rec(both, Evidence.CROSS_CHECK_AGREE, clock.t))
    opinions = book.local_opinions()
    assert set(opinions) == {honest, both}
    assert book.checked_score(liar) == pytest.approx(book.params.prior_mean)
    # global trust, anchored on this node's own view, gives the liar nothing
    trust = GlobalTrust([], self_id=pid("me")).compute(opinions)
    assert trust.get(liar, 0.0) == 0.0 and trust[honest] > 0
