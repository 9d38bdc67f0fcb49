"""Vote and mixture-of-agents with small fakes."""

from __future__ import annotations

import pytest
from collab_fakes import LARGE, SMALL, FakeNet, candidate, dead, fake_embedder, mc, router_with
from peermind.node.collab.constraints import Tactics
from peermind.node.collab.errors import InfeasibleConstraints
from peermind.node.collab.job import Job

MC = Job(kind="score", prompt="Question: pick\nAnswer:", continuations=(" a", " b", " c"))
GEN = Job.question("What is 6 x 7?", max_tokens=16)


def three_models() -> FakeNet:
    return FakeNet([
        candidate("me", local=True, **SMALL),
        candidate("big", **LARGE),
        candidate("mid", model="qwen", params_m=200.0, cost=0.2),
        candidate("s2", **SMALL),
    ])


async def test_mc_vote_is_a_plurality_of_distinct_models() -> None:
    n = three_models()
    n.set("me", scores=mc(0.0, -3.0, -3.0))
    n.set("big", scores=mc(-3.0, 0.0, -3.0))
    n.set("mid", scores=mc(-3.0, -0.1, -3.0))
    answer = await n.collaborator().run(MC, mode="vote")
    assert answer.choice == 1 and answer.mode == "vote"
    assert "s2" not in n.asked  # same model as "me": scoring it again adds nothing
    assert {c.peer_id: c.role for c in answer.contributions}["me"] == "dissent"
    assert max(range(3), key=lambda i: answer.scores[i][0]) == 1


async def test_weighted_vote_follows_summed_probability() -> None:
    n = three_models()
    n.set("me", scores=mc(0.0, -0.1, -9.0))      # barely prefers a
    n.set("big", scores=mc(-0.1, 0.0, -9.0))     # barely prefers b
    n.set("mid", scores=mc(-9.0, 0.0, -9.0))     # strongly b
    answer = await n.collaborator().run(MC, mode="vote", tactics=Tactics(vote_rule="weighted"))
    assert answer.choice == 1


async def test_a_failed_voter_is_replaced_by_a_spare() -> None:
    n = three_models()
    n.set("mid", error=dead())
    answer = await n.collaborator().run(MC, mode="vote", tactics=Tactics(k=3))
    assert len(answer.contributions) == 3 and "s2" in n.asked


async def test_generation_vote_takes_the_majority_answer() -> None:
    n = three_models()
    n.set("me", text="42", logprob=-1.0)
    n.set("big", text="The answer is 42.", logprob=-0.5)
    n.set("mid", text="48", logprob=-0.1)
    answer = await n.collaborator().run(GEN, mode="vote")
    assert answer.text == "The answer is 42." and answer.confidence == pytest.approx(2 / 3)


async def test_moa_mc_weights_proposers_by_predicted_quality() -> None:
    n = FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE)])
    n.set("me", scores=mc(0.0, -0.3, -9.0))   # prefers a
    n.set("big", scores=mc(-0.3, 0.0, -9.0))  # prefers b
    router = router_with({"smollm2": 0.2, "gemma3-270m": 0.9})
    answer = await n.collaborator(router, fake_embedder()).run(MC, mode="moa")
    assert answer.choice == 1 and "weights" in answer.reason


async def test_moa_generation_aggregator_sees_every_proposal() -> None:
    n = three_models()
    n.set("me", text="Paris is the capital.")
    n.set("mid", text="It is Paris.")
    n.set("big", text="Paris")
    answer = await n.collaborator().run(GEN, mode="moa", tactics=Tactics(aggregator="big", proposers=("me", "mid")))
    agg = [req for peer, req in n.calls if peer == "big"]
    assert len(agg) == 1
    system = agg[0].messages[0].content
    assert "Paris is the capital." in system and "It is Paris." in system
    assert answer.answered_by == "big" and "synthesised 2 proposals" in answer.reason


async def test_a_failed_aggregator_is_replaced_by_the_next_strongest_peer() -> None:
    n = FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE)])
    n.set("big", error=dead())
    n.set("me", text="Paris")
    answer = await n.collaborator().run(GEN, mode="moa", tactics=Tactics(aggregator="big", proposers=("me",)))
    assert answer.text == "Paris" and answer.answered_by == "me"
    assert [a.outcome for a in answer.attempts] == ["ok", "failed", "ok"]


async def test_moa_unknown_aggregator_is_infeasible() -> None:
    with pytest.raises(InfeasibleConstraints) as info:
        await three_models().collaborator().run(GEN, mode="moa", tactics=Tactics(aggregator="ghost"))
    assert info.value.constraint == "aggregator"
