"""Property tests: scores stay in [0, 1] and respond monotonically to evidence."""

from __future__ import annotations

from _trustpeers import Clock, pid
from hypothesis import given, settings
from hypothesis import strategies as st
from peermind.trust import Evidence, EvidenceRecord, ReputationBook, TrustParams

PEER = pid("prop")
START = 1_700_000_000.0
# A small evidence cap (with a weaker prior so bans stay reachable) exercises the cap often.
PARAMS = TrustParams(max_evidence_mass=8.0, prior_alpha=0.5, prior_beta=1.5)

events = st.lists(
    st.tuples(
        st.sampled_from(list(Evidence)),
        st.none() | st.floats(-30, 30, allow_nan=False),
        st.floats(0, 5 * 86_400),  # gap since the previous event
    ),
    max_size=40,
)


def _book_after(evs: list[tuple[Evidence, float | None, float]], end: float) -> ReputationBook:
    book = ReputationBook(PARAMS, now=Clock(end))
    t = START
    for kind, override, gap in evs:
        t += gap
        book.record(EvidenceRecord(PEER, kind, weight_override=override, at=min(t, end)))
    return book


def _end(evs: list[tuple[Evidence, float | None, float]], tail: float) -> float:
    return START + sum(gap for *_, gap in evs) + tail


@settings(max_examples=150, deadline=None)
@given(evs=events, tail=st.floats(0, 1e7))
def test_score_always_lies_within_zero_and_one(
    evs: list[tuple[Evidence, float | None, float]], tail: float
) -> None:
    book = _book_after(evs, _end(evs, tail))
    assert 0.0 < book.score(PEER) < 1.0
    exp = book.explain(PEER) if evs else None
    if exp is not None:
        assert exp.positive_mass >= 0 and exp.negative_mass >= 0
        assert exp.positive_mass + exp.negative_mass <= PARAMS.max_evidence_mass + 1e-9


@settings(max_examples=150, deadline=None)
@given(
    evs=events,
    position=st.integers(0, 40),
    weight=st.floats(0.001, 30),
    kind=st.sampled_from(list(Evidence)),
    tail=st.floats(0, 1e6),
)
def test_adding_positive_evidence_never_lowers_the_score(
    evs: list[tuple[Evidence, float | None, float]],
    position: int,
    weight: float,
    kind: Evidence,
    tail: float,
) -> None:
    end = _end(evs, tail)
    extra = (kind, weight, 0.0)
    with_extra = evs[:position] + [extra] + evs[position:]
    assert _book_after(with_extra, end).score(PEER) >= _book_after(evs, end).score(PEER) - 1e-12


@settings(max_examples=150, deadline=None)
@given(
    evs=events,
    position=st.integers(0, 40),
    weight=st.floats(-30, -0.001),
    kind=st.sampled_from(list(Evidence)),
    tail=st.floats(0, 1e6),
)
def test_adding_negative_evidence_never_raises_the_score(
    evs: list[tuple[Evidence, float | None, float]],
    position: int,
    weight: float,
    kind: Evidence,
    tail: float,
) -> None:
    end = _end(evs, tail)
    with_extra = evs[:position] + [(kind, weight, 0.0)] + evs[position:]
    assert _book_after(with_extra, end).score(PEER) <= _book_after(evs, end).score(PEER) + 1e-12


@settings(max_examples=100, deadline=None)
@given(evs=events, tail=st.floats(0, 1e6))
def test_snapshot_and_load_preserve_the_score(
    evs: list[tuple[Evidence, float | None, float]], tail: float
) -> None:
    end = _end(evs, tail)
    book = _book_after(evs, end)
    restored = ReputationBook(PARAMS, now=Clock(end))
    restored.load(book.snapshot())
    assert restored.score(PEER) == book.score(PEER)
    assert restored.standing(PEER) is book.standing(PEER)
