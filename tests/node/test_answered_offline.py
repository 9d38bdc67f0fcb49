"""When an answer is labelled offline: judged over the question, not from the peer table at its end.

A peer whose link flaps (``testnet fault drop``) can be back for a moment as the answer is
delivered, or gone by then after routing left it out by choice; neither may change the label.
"""

from __future__ import annotations

from peermind.node.collab.answer import Answer, Attempt, answered_offline

OWN, PEER = "own-peer", "other-peer"


def answer(answered_by: str, *attempts: tuple[str, str]) -> Answer:
    return Answer(text="Paris", mode="route", answered_by=answered_by, model="smollm2", confidence=0.9, cost=0.0,
                  latency_ms=5.0, attempts=tuple(Attempt(peer_id=p, model="smollm2", outcome=o, latency_ms=1.0)
                                                 for p, o in attempts))


def test_no_peer_when_the_question_came_is_offline_even_if_one_is_back_at_the_end() -> None:
    assert answered_offline(answer(OWN, (OWN, "ok")), OWN, reachable_at_start=False)


def test_a_peer_left_out_by_choice_is_not_offline_even_if_it_is_gone_at_the_end() -> None:
    assert not answered_offline(answer(OWN, (OWN, "ok")), OWN, reachable_at_start=True)


def test_every_peer_tried_was_unreachable_is_offline() -> None:
    assert answered_offline(answer(OWN, (PEER, "unreachable"), (OWN, "ok")), OWN, reachable_at_start=True)


def test_a_peer_that_answered_or_refused_was_reachable() -> None:
    assert not answered_offline(answer(OWN, (PEER, "refused:busy"), (OWN, "ok")), OWN, reachable_at_start=True)
    assert not answered_offline(answer(OWN, (PEER, "ok"), (OWN, "ok")), OWN, reachable_at_start=False)


def test_an_answer_from_a_peer_is_never_offline() -> None:
    assert not answered_offline(answer(PEER, (PEER, "ok")), OWN, reachable_at_start=False)
