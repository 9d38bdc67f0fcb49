"""Routing by evidence: labelled answers on similar questions decide, size only breaks ties.

Small fakes (no sockets): the FakeEncoder maps a text to a fixed unit vector, so rows
labelled on the question's own embedding are its nearest neighbours.
"""

from __future__ import annotations

import numpy as np
from collab_fakes import LARGE, SMALL, FakeEncoder, FakeNet, candidate, fake_embedder, mc
from peermind.node.collab.constraints import Tactics
from peermind.node.collab.embedding import query_text
from peermind.node.collab.job import Job
from peermind.node.collab.quality import QualityMemory
from peermind.node.store import FeedbackRecord

MC = Job(kind="score", prompt="Question: which gas do plants take in?\nAnswer:", continuations=(" CO2", " O2", " N2"))
NO_EXPLORE = Tactics(explore=False)


def net3() -> FakeNet:
    return FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE), candidate("s2", **SMALL)])


def memory(rows: dict[str, list[bool]], job: Job = MC) -> QualityMemory:
    """Labelled outcomes per model on (near-)copies of ``job``'s question."""
    mem = QualityMemory(None, rng=np.random.default_rng(0))
    base = FakeEncoder().encode_one(query_text(job))
    rng = np.random.default_rng(1)
    for model, outcomes in rows.items():
        for correct in outcomes:
            mem.neighbours.add(base + 0.01 * rng.standard_normal(base.shape), model, correct)
    return mem


async def test_evidence_beats_size_the_smaller_model_answers_where_it_is_better() -> None:
    net = net3()
    mem = memory({"smollm2": [True] * 8 + [False] * 2, "gemma3-270m": [True] * 2 + [False] * 8})
    answer = await net.collaborator(embedder=fake_embedder(), quality=mem).run(MC, mode="route", tactics=NO_EXPLORE)
    assert answer.model == "smollm2" and answer.router == "learned"
    assert "similar labelled answers" in answer.reason


async def test_and_the_bigger_one_where_it_is_better() -> None:
    net = net3()
    mem = memory({"smollm2": [False] * 8, "gemma3-270m": [True] * 8})
    answer = await net.collaborator(embedder=fake_embedder(), quality=mem).run(MC, mode="route", tactics=NO_EXPLORE)
    assert answer.answered_by == "big"


async def test_cascade_does_not_escalate_to_a_model_the_evidence_ranks_worse() -> None:
    net = net3()
    net.set("me", scores=mc(-1.0, -1.1, -1.2))  # unsure: below any threshold
    mem = memory({"smollm2": [True] * 7 + [False] * 3, "gemma3-270m": [False] * 8 + [True] * 2})
    answer = await net.collaborator(embedder=fake_embedder(), quality=mem).run(
        MC, mode="cascade", tactics=Tactics(threshold=0.99))
    assert answer.model == "smollm2" and not answer.escalated
    assert "big" not in net.asked


async def test_cascade_still_escalates_to_a_model_the_evidence_ranks_better() -> None:
    net = net3()
    net.set("me", scores=mc(-1.0, -1.1, -1.2))
    mem = memory({"smollm2": [False] * 8, "gemma3-270m": [True] * 8})
    answer = await net.collaborator(embedder=fake_embedder(), quality=mem).run(
        MC, mode="cascade", tactics=Tactics(threshold=0.99))
    assert answer.escalated and answer.answered_by == "big"


async def test_auto_keeps_the_routed_model_when_nothing_better_is_predicted() -> None:
    net = net3()
    net.set("me", scores=mc(-1.0, -1.1, -1.2))
    mem = memory({"smollm2": [True] * 8, "gemma3-270m": [False] * 8})
    answer = await net.collaborator(embedder=fake_embedder(), quality=mem).run(
        MC, mode="auto", tactics=Tactics(threshold=0.99, explore=False))
    assert answer.model == "smollm2" and not answer.escalated


async def test_exploration_gives_a_model_without_evidence_a_share_not_everything() -> None:
    """A newcomer model with no rows is tried on some questions while the known one keeps most."""
    mem = memory({"smollm2": [True] * 45 + [False] * 15})
    picks = []
    for _ in range(200):
        view = mem.assess(FakeEncoder().encode_one(query_text(MC)), ["smollm2", "newmodel"], explore=True)
        picks.append(max(view.ranking, key=lambda m: view.ranking[m]))
        assert view.explored == ("newmodel",)
    share = picks.count("newmodel") / len(picks)
    assert 0.05 < share < 0.6


def test_rows_of_peers_ruled_out_by_trust_do_not_teach_the_router() -> None:
    emb = np.ones(384, np.float32)
    rows = [FeedbackRecord(i, None, emb, f"q{i}", peer, "gemma3-270m", "probe", ok, None, None, None, 0.0)
            for i, (peer, ok) in enumerate([("liar", False)] * 6 + [("honest", True)] * 2)]
    mem = QualityMemory(None, peer_filter=lambda p: p != "liar")
    assert mem.load(rows) == 2
    assert mem.assess(emb, ["gemma3-270m"]).means["gemma3-270m"] > 0.5


def test_every_mode_name_has_one_registered_runner() -> None:
    from peermind.node.collab import policy  # noqa: F401 - importing the policy registers every mode
    from peermind.node.collab.mode_registry import registered, runner_for
    from peermind.node.collab_choices import MODES

    assert set(registered()) == set(MODES)
    assert runner_for("local") is runner_for("route")


def unproven_net() -> FakeNet:
    from dataclasses import replace

    return FakeNet([candidate("me", local=True, **SMALL), replace(candidate("new", **LARGE), trust=0.9)])


async def test_an_unproven_first_choice_is_asked_alongside_a_proven_one_whose_answer_is_delivered() -> None:
    net = unproven_net()
    mem = memory({"smollm2": [False] * 5, "gemma3-270m": [True] * 5})
    answer = await net.collaborator(embedder=fake_embedder(), quality=mem).run(MC, mode="route", tactics=NO_EXPLORE)
    assert set(net.asked) == {"me", "new"}
    assert answer.answered_by == "me" and "asked alongside" in answer.reason
    assert {c.peer_id for c in answer.contributions} == {"me", "new"}


async def test_the_unproven_answer_stands_in_when_the_proven_candidate_fails() -> None:
    from collab_fakes import dead

    net = unproven_net()
    net.set("me", error=dead())
    mem = memory({"smollm2": [False] * 5, "gemma3-270m": [True] * 5})
    answer = await net.collaborator(embedder=fake_embedder(), quality=mem).run(MC, mode="auto", tactics=NO_EXPLORE)
    assert answer.answered_by == "new" and "answered alone" in answer.reason


async def test_a_pinned_unproven_peer_is_asked_alone() -> None:
    from peermind.node.collab.constraints import Constraints

    net = unproven_net()
    answer = await net.collaborator().run(MC, mode="route", constraints=Constraints(peer="new"))
    assert net.asked == ["new"] and answer.answered_by == "new"


async def test_auto_never_escalates_to_an_unproven_peer() -> None:
    net = unproven_net()
    net.set("me", scores=mc(-1.0, -1.1, -1.2))  # unsure: wants to escalate
    mem = memory({"smollm2": [True] * 6 + [False] * 4, "gemma3-270m": [True] * 9 + [False]})
    answer = await net.collaborator(embedder=fake_embedder(), quality=mem).run(
        MC, mode="auto", tactics=Tactics(threshold=0.99, cost_weight=1.0, explore=False))
    assert answer.answered_by == "me" and not answer.escalated and net.asked == ["me"]
