"""Leave-one-dataset-out: the protocol's steps against a small fake node API, and its report files
rebuilt from the per-item file (no nodes; the real run is in test_testnet_eval.py)."""

import json
from pathlib import Path
from typing import Any

import pytest
from peermind.bench import Item
from peermind.node.client import ApiRequestFailed
from peermind.testnet import _eval_lodo
from peermind.testnet._eval import EvalSettings, lodo_report, rerender, write_reports
from peermind.testnet._eval_lodo import (
    LodoPlan,
    parse_steps,
    run_held_out,
    seed_datasets_for,
    stage_key,
)
from peermind.testnet._eval_outcomes import Peer
from peermind.testnet.errors import EvalError

PEERS = [Peer("peer-a", "small", 135, 0.1, True), Peer("peer-b", "large", 270, 0.4)]


def _items(dataset: str, split: str, n: int) -> list[Item]:
    # gold is 0 on even items (the small model's pick), 1 on odd ones (the large model's)
    return [Item(f"{dataset}/{split}/{i}", dataset, f"{split} question {i}?", ("a", "b"), i % 2, None, "mc") for i in range(n)]


class FakeNode:
    """Small: always picks choice 0; large: always 1. "route" answers with the model the
    labels so far favour (small until a label says otherwise), as a learning router would."""

    def __init__(self, *, lost_rows: int = 0) -> None:
        self.seeds: list[list[str]] = []
        self.labels: dict[str, bool] = {}
        self.asked: list[tuple[str, str]] = []  # (context, mode or peer)
        self.lost_rows = lost_rows  # first feedback calls find no rows yet (written off the answer path)
        self.task_models: dict[str, str] = {}
        self.task_contexts: dict[str, str] = {}

    def router_seed(self, datasets: list[str], **options: Any) -> dict[str, Any]:
        self.seeds.append(datasets)
        return {"state": "running"}

    def seed_progress(self) -> dict[str, Any]:
        return {"state": "done", "done": 4, "total": 4, "summary": {"router_version": 1, "train_rows": 4}}

    def router_status(self) -> dict[str, Any]:
        return {"router": {"version": 1, "source": "seed"}, "feedback": {"labelled": len(self.labels)},
                "quality_memory": {"rows": len(self.labels)}}

    def _model_for(self, options: dict[str, Any]) -> str:
        if options.get("peer"):
            return "small" if options["peer"] == "peer-a" else "large"
        wrong_small = sum(1 for t, ok in self.labels.items() if self.task_models[t] == "small" and not ok)
        return "large" if wrong_small else "small"

    def score(self, context: str, continuations: list[str], **options: Any) -> tuple[list[tuple[float, int]], dict[str, Any]]:
        model = self._model_for(options)
        self.asked.append((context, options.get("peer") or options["mode"]))
        task = f"t{len(self.asked)}"
        self.task_models[task] = model
        self.task_contexts[task] = context
        scores = [(-1.0, 1), (-5.0, 1)] if model == "small" else [(-5.0, 1), (-1.0, 1)]
        return scores, {"task_id": task, "model": model, "answered_by": "peer-a" if model == "small" else "peer-b",
                        "cost": 0.0032500000012 if model == "small" else 0.04}  # rounds in the per-item file

    def feedback(self, task_id: str, *, correct: bool) -> dict[str, Any]:
        if self.lost_rows:
            self.lost_rows -= 1
            raise ApiRequestFailed(404, "not_found", "no feedback rows for task", {})
        self.labels[task_id] = correct
        return {"task_id": task_id, "labelled": 1, "rows": 1}


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_eval_lodo, "SEED_POLL_S", 0.0)
    monkeypatch.setattr(_eval_lodo, "LABEL_SETTLE_S", 0.0)
    monkeypatch.setattr(_eval_lodo, "FEEDBACK_WAIT_S", (0.0, 0.0))


def _run(node: FakeNode, steps: list[int], validation: int = 10) -> _eval_lodo.HeldOutRun:
    return run_held_out(node, "toy", _items("toy", "test", 6), _items("toy", "validation", validation),  # type: ignore[arg-type]
                        ["other"], PEERS, ["small", "large"], ["route"], LodoPlan(steps=steps),
                        max_tokens=16, timeout_s=5, say=lambda _m: None)


def test_seed_pool_leaves_out_the_held_out_dataset_and_its_family() -> None:
    pool = ["arc_easy", "arc_challenge", "sciq", "csqa"]
    assert seed_datasets_for("arc_easy", pool) == ["sciq", "csqa"]
    assert seed_datasets_for("sciq", pool) == ["arc_easy", "arc_challenge", "csqa"]
    assert parse_steps("20, 0,10") == [0, 10, 20]
    for bad in ("a,b", "", "-1,5"):
        with pytest.raises(EvalError):
            parse_steps(bad)


def test_learning_curve_labels_only_validation_items_and_asks_every_step() -> None:
    node = FakeNode(lost_rows=1)
    run = _run(node, [0, 2, 4])
    assert node.seeds == [["other"]]
    assert len(run.feedback) == 4 and all("/validation/" in f.item_id for f in run.feedback)
    assert all("validation question" in node.task_contexts[t] for t in node.labels)  # never a test item
    # every test item: both models pinned once, then route at each step
    for record in run.records:
        assert set(record.per_model) == {"small", "large"}
        assert set(record.per_mode) == {stage_key("route", k) for k in (0, 2, 4)}
    right = {k: sum(r.per_mode[stage_key("route", k)].correct for r in run.records) for k in (0, 2, 4)}
    assert right[0] == 3 and right[4] == 3  # small before any wrong label, large after: half right either way
    assert [r.per_mode["route@4"].model for r in run.records] == ["large"] * 6
    assert set(run.router) == {0, 2, 4} and run.router[4]["feedback"]["labelled"] == 4


def test_too_few_validation_items_is_noted_not_hidden() -> None:
    run = _run(FakeNode(), [0, 5], validation=3)
    assert len(run.feedback) == 3 and any("only 3 labelled answers" in n for n in run.notes)


def test_report_files_are_rebuilt_identically_from_the_per_item_file(tmp_path: Path) -> None:
    run = _run(FakeNode(), [0, 2, 4])
    settings = EvalSettings(datasets=["toy"], limit=6, lodo=LodoPlan(steps=[0, 2, 4]), protocol="lodo",
                            command="peermind bench eval --protocol lodo")
    modes = ["single:small", "single:large", "always-strongest", "oracle", "route"]
    report = lodo_report(settings, {"toy": 6}, [run], modes, ["route"])
    out = tmp_path / "lodo.json"
    files = write_reports(report, out)
    assert sorted(f.name for f in files) == ["lodo.items.jsonl", "lodo.json", "lodo.learning_curve.png", "lodo.md"]
    text = (tmp_path / "lodo.md").read_text()
    assert "leave-one-dataset-out" in text and "| labelled answers seen |" in text
    assert "router seeded on other" in text and "route after 4 labelled answers" in text
    document = json.loads(out.read_text())
    assert document["meta"]["protocol"] == "lodo" and "route@4" in document["meta"]["goals"]
    assert {r["mode"] for r in document["results"]} >= {"route@0", "route@2", "route@4", "always-strongest"}
    assert (tmp_path / "lodo.learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    before = text
    rerender(out)
    assert (tmp_path / "lodo.md").read_text() == before
