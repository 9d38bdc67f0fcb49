"""Idle learning with small fakes: known-answer questions become labelled rows per model."""

from __future__ import annotations

import random

import trio
from collab_fakes import LARGE, SMALL, FakeNet, candidate, mc
from peermind.node.collab.feedback import LabelledOutcome
from peermind.node.collab.job import Job
from peermind.node.collab.learning import IdleLearner, LearningItem, learning_items
from peermind.node.collab.quality import QualityMemory

ITEM = LearningItem("sciq/1", Job(kind="score", prompt="Q?\nAnswer:", continuations=(" a", " b", " c")), gold=1)


class NoStore:
    def feedback_rows(self) -> list[object]:
        return []


def learner(net: FakeNet, outcomes: list[LabelledOutcome], *, idle: bool = True, max_rows: int = 300,
            quality: QualityMemory | None = None) -> IdleLearner:
    return IdleLearner(collaborator=net.collaborator(), store=NoStore(),  # type: ignore[arg-type]
                       quality=quality or QualityMemory(None), submit=outcomes.append, datasets=("sciq",),
                       interval_s=0.01, max_rows=max_rows, idle=lambda: idle, rng=random.Random(0))


async def test_one_peer_per_model_answers_and_each_outcome_is_labelled() -> None:
    net = FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE), candidate("s2", **SMALL)])
    net.set("me", scores=mc(-3.0, -0.1, -3.0))  # picks b: right
    net.set("big", scores=mc(-0.1, -3.0, -3.0))  # picks a: wrong
    outcomes: list[LabelledOutcome] = []
    assert await learner(net, outcomes).learn_once(ITEM) == 2
    by_peer = {o.peer: o for o in outcomes}
    assert set(by_peer) == {"me", "big"}  # the own model stands for smollm2; s2 is not asked
    assert by_peer["me"].correct and not by_peer["big"].correct
    assert all(o.source == "learn" and o.query_id == "sciq/1" for o in outcomes)


async def test_a_model_with_enough_rows_is_not_asked_again() -> None:
    import numpy as np

    net = FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE)])
    mem = QualityMemory(None)
    for _ in range(3):
        mem.neighbours.add(np.ones(384), "gemma3-270m", True)
    outcomes: list[LabelledOutcome] = []
    await learner(net, outcomes, max_rows=3, quality=mem).learn_once(ITEM)
    assert [o.peer for o in outcomes] == ["me"]


async def test_busy_nodes_do_not_learn() -> None:
    net = FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE)])
    outcomes: list[LabelledOutcome] = []
    with trio.move_on_after(0.3):
        await learner(net, outcomes, idle=False).run()
    assert outcomes == [] and net.calls == []


def test_learning_items_come_from_validation_splits_interleaved() -> None:
    items = learning_items(("arc_easy", "sciq"), random.Random(0))
    assert items and items[0].key.startswith("arc_easy/") and items[1].key.startswith("sciq/")
    assert all(0 <= i.gold < len(i.job.continuations) for i in items)
