"""Cascade with small fakes: keep confident cheap answers, escalate unsure ones within limits."""

from __future__ import annotations

from collab_fakes import LARGE, SMALL, FakeNet, candidate, dead, mc, router_with
from peermind.node.collab.constraints import Constraints, Tactics
from peermind.node.collab.job import Job
from peermind.node.collab.router_state import Calibration

MC = Job(kind="score", prompt="Question: 2+2?\nAnswer:", continuations=(" 3", " 4", " 5"))
GEN = Job.question("Capital of France?", max_tokens=16)
SURE, UNSURE = mc(0.0, -6.0, -6.0), mc(-1.0, -1.05, -1.1)


def net() -> FakeNet:
    return FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE), candidate("big2", **LARGE)])


async def test_a_confident_cheap_answer_is_kept() -> None:
    n = net()
    n.set("me", scores=SURE)
    answer = await n.collaborator().run(MC, mode="cascade", tactics=Tactics(threshold=0.6))
    assert answer.answered_by == "me" and not answer.escalated and n.asked == ["me"]
    assert "kept" in answer.reason


async def test_an_unsure_answer_escalates_to_a_stronger_peer() -> None:
    n = net()
    n.set("me", scores=UNSURE)
    n.set("big", scores=mc(-5.0, 0.0, -5.0))
    answer = await n.collaborator().run(MC, mode="cascade", tactics=Tactics(threshold=0.6))
    assert answer.escalated and answer.answered_by == "big" and answer.choice == 1
    assert n.asked == ["me", "big"]
    roles = {c.peer_id: c.role for c in answer.contributions}
    assert roles == {"big": "answer", "me": "dissent"}  # me picked choice 0
    assert answer.cost > answer.contributions[0].cost  # both calls are paid for


async def test_the_calibrated_threshold_is_used_per_model_and_kind() -> None:
    n = net()
    n.set("me", scores=UNSURE)
    strict = router_with({"smollm2": 0.6, "gemma3-270m": 0.7},
                         calibration=Calibration(thresholds={"smollm2": {"score": 0.2}}))
    answer = await n.collaborator(strict).run(MC, mode="cascade")
    assert not answer.escalated and "calibrated threshold 0.200" in answer.reason


async def test_generation_escalates_on_a_low_mean_logprob() -> None:
    n = net()
    n.set("me", text="Lyon", logprob=-2.5)
    n.set("big", text="Paris", logprob=-0.2)
    answer = await n.collaborator().run(GEN, mode="cascade", tactics=Tactics(threshold=-1.0))
    assert answer.escalated and answer.text == "Paris"
    assert {c.peer_id: c.role for c in answer.contributions}["me"] == "other"


async def test_escalation_respects_the_cost_budget() -> None:
    n = net()
    n.set("me", scores=UNSURE)
    answer = await n.collaborator().run(MC, mode="cascade", tactics=Tactics(threshold=0.6),
                                        constraints=Constraints(max_cost=0.004))  # each fits, both do not
    assert not answer.escalated and "max_cost" in answer.reason and n.asked == ["me"]


async def test_failed_escalation_keeps_the_cheap_answer_without_error() -> None:
    n = net()
    n.set("me", scores=UNSURE)
    n.set("big", error=dead())
    n.set("big2", error=dead())
    answer = await n.collaborator().run(MC, mode="cascade", tactics=Tactics(threshold=0.6))
    assert answer.answered_by == "me" and not answer.escalated and "failed" in answer.reason


async def test_a_dead_cheap_tier_falls_through_to_the_next_tier() -> None:
    n = net()
    n.set("me", error=dead())
    n.set("big", scores=SURE)
    answer = await n.collaborator().run(MC, mode="cascade", tactics=Tactics(threshold=0.6))
    assert answer.answered_by == "big"


async def test_hybrid_escalates_to_a_vote_among_stronger_peers() -> None:
    n = net()
    n.set("me", text="Lyon", logprob=-3.0)
    n.set("big", text="Paris", logprob=-0.4)
    n.set("big2", text="It is Paris.", logprob=-0.3)
    answer = await n.collaborator().run(GEN, mode="cascade", tactics=Tactics(threshold=-1.0, escalate_to="vote", k=2))
    assert answer.escalated and answer.text == "It is Paris." and answer.confidence == 1.0
    assert "vote of 2 stronger peers" in answer.reason and set(n.asked) == {"me", "big", "big2"}
    sampled = [req.temperature for peer, req in n.calls if peer == "big2"]
    assert sampled == [0.7]  # a repeated model samples, or it would only repeat itself


async def test_hybrid_with_one_stronger_model_scores_once() -> None:
    n = net()
    n.set("me", scores=UNSURE)
    n.set("big", scores=mc(-5.0, 0.0, -5.0))
    answer = await n.collaborator().run(MC, mode="cascade", tactics=Tactics(threshold=0.6, escalate_to="vote"))
    assert answer.escalated and answer.choice == 1
    assert len(n.asked) == 2  # scoring the same model twice would repeat the same numbers
