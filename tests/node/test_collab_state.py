"""Router holder, feedback rows and seeding on a real SQLite store (peers faked)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import trio
from collab_fakes import (
    LARGE,
    SMALL,
    FakeEncoder,
    FakeNet,
    candidate,
    fake_embedder,
    mc,
    router_with,
)
from peermind.federated import RouterModel
from peermind.node.collab.embedding import QueryEmbedder, query_text
from peermind.node.collab.errors import UnknownTask
from peermind.node.collab.feedback import FeedbackRecorder, mark_task
from peermind.node.collab.job import Job
from peermind.node.collab.router_state import (
    DEFAULT_SCHEMA,
    Calibration,
    RouterHolder,
    training_rows,
)
from peermind.node.collab.seed import SeedPlan, SeedRunner
from peermind.node.store import Store

MC = Job(kind="score", prompt="Question: pick\nAnswer:", continuations=(" a", " b", " c"))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "node.db")
    yield s
    s.close()


def test_holder_persists_adopted_weights_and_calibration(store: Store) -> None:
    holder = RouterHolder(store)
    assert holder.trained_heads() == set() and holder.predict(np.zeros(384, np.float32)) == {}
    w = np.zeros((2, 384), np.float32)
    w[0, 0] = 1.0  # only the smollm2 head is trained
    cal = Calibration(thresholds={"smollm2": {"score": 0.4}}, cost_weight=0.1)
    version = holder.adopt(RouterModel(DEFAULT_SCHEMA, w, np.zeros(2, np.float32)), "test", metrics={"x": float("nan")},
                           calibration=cal)
    again = RouterHolder(store)
    assert again.version == version and again.source == "test"
    assert again.trained_heads() == {"smollm2"} and again.calibration.threshold("smollm2", "score") == 0.4
    assert again.metrics == {"x": None}  # stored as strict JSON
    assert set(again.predict(np.eye(384, dtype=np.float32)[0])) == {"smollm2"}
    v2 = again.set_calibration(Calibration(cost_weight=0.3))
    assert RouterHolder(store).calibration.cost_weight == 0.3 and v2 > version


async def test_answers_become_feedback_rows_and_marks_label_them(store: Store) -> None:
    net = FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE)])
    net.set("me", scores=mc(0.0, -3.0, -3.0))
    net.set("big", scores=mc(-3.0, 0.0, -3.0))
    answer = await net.collaborator().run(MC, mode="vote")
    recorder = FeedbackRecorder(store, fake_embedder())
    assert await recorder.record(MC, answer) == 2
    rows = {r.peer: r for r in store.feedback_rows()}
    assert all(r.task_id == answer.task_id and r.correct is None for r in rows.values())
    answer_peer = answer.answered_by
    other = "me" if answer_peer == "big" else "big"
    assert (rows[other].mode, rows[other].role) == ("vote", "dissent") and (rows[answer_peer].mode, rows[answer_peer].role) == ("vote", "answer")
    result = mark_task(store, answer.task_id, True)
    assert result == {"rows": 2, "labelled": 2, "unlabelled": 0}
    labels = {r.peer: r.correct for r in store.feedback_rows()}
    assert labels == {answer_peer: True, other: False}  # a dissenter on a right answer was wrong
    mark_task(store, answer.task_id, False)
    assert {r.peer: r.correct for r in store.feedback_rows()}[answer_peer] is False
    with pytest.raises(UnknownTask):
        mark_task(store, "00" * 16, True)


async def test_recorder_runs_in_the_background(store: Store) -> None:
    net = FakeNet([candidate("me", local=True, **SMALL)])
    answer = await net.collaborator().run(MC, mode="route")
    recorder = FeedbackRecorder(store, fake_embedder())
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.run)
        recorder.submit(MC, answer)
        with trio.fail_after(5):
            while recorder.recorded < 1:  # noqa: ASYNC110 - a test polling a counter
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert len(store.feedback_rows()) == 1


async def test_seed_scores_train_and_validation_items_fits_and_calibrates(store: Store) -> None:
    pytest.importorskip("peermind.bench")
    from peermind.bench import DataUnavailable, load_items

    try:
        load_items("arc_easy", "train", 1)
    except DataUnavailable:
        pytest.skip("benchmark data not fetched (peermind setup)")
    net = FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE)])
    net.set("me", scores=mc(0.0, -2.0, -2.0, -2.0))   # always picks the first choice
    net.set("big", scores=mc(-2.0, 0.0, -2.0, -2.0))  # always picks the second
    holder = RouterHolder(store)
    collab = net.collaborator(holder, fake_embedder())
    runner = SeedRunner(store=store, router=holder, embedder=fake_embedder(), candidates=lambda: list(net.candidates),
                        attempt=collab.attempt)
    plan = SeedPlan(datasets=("arc_easy",), limit=12, validation_limit=6, generation_items=2)
    summary = await runner.run(plan)
    assert runner.progress.done == 2 * (12 + 6 + 2) and runner.progress.failed == 0
    assert holder.trained_heads() == {"smollm2", "gemma3-270m"} and holder.source == "seed"
    train, validation = training_rows(store)
    assert len(train) == 24 and len(validation) == 12
    assert set(holder.calibration.thresholds) == {"smollm2", "gemma3-270m"}
    assert "generate" in holder.calibration.thresholds["smollm2"]
    assert summary["validation_routing"]["queries"] == 6
    again = await runner.run(plan)  # everything is already there: only the fit runs
    assert runner.progress.skipped_existing >= 2 * (12 + 6 + 2) and again["train_rows"] == 24


class NoEncoder(FakeEncoder):
    """An encoder that must not be asked: the answer already carries its question's embedding."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        raise AssertionError(f"embedded again: {texts}")


async def test_the_routing_embedding_travels_with_the_answer_into_its_feedback_rows(store: Store) -> None:
    net = FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE)])
    answer = await net.collaborator(router_with({"smollm2": 0.6, "gemma3-270m": 0.7}), fake_embedder()).run(MC, mode="route")
    expected = FakeEncoder().encode_one(query_text(MC))
    assert answer.query_embedding is not None and np.allclose(answer.query_embedding, expected)
    assert "query_embedding" not in answer.provenance()  # it stays on this node
    assert await FeedbackRecorder(store, QueryEmbedder(NoEncoder())).record(MC, answer) == 1
    assert np.allclose(store.feedback_rows()[0].query_embedding, expected)
