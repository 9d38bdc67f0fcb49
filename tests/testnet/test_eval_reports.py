"""The evaluation's report files from hand-made outcomes (no nodes): JSON, Markdown, items, PNGs."""

import json
from pathlib import Path

from peermind.bench import read_results_json
from peermind.testnet._eval import POOLED, EvalReport, render_markdown, write_reports
from peermind.testnet._eval_outcomes import ItemRecord, Outcome, Peer
from peermind.testnet._strategies import evaluate_strategies

PEERS = [Peer("peer-a", "small", 135, 0.1, True), Peer("peer-b", "large", 270, 0.4)]
MODES = ["single:small", "single:large", "random", "always-strongest", "oracle", "route"]


def _record(i: int, dataset: str, n_choices: int) -> ItemRecord:
    r = ItemRecord(f"{dataset}-{i}", dataset, "mc", n_choices)
    r.per_model = {"small": Outcome(i % 2 == 0, 0.1, 50 + i, "peer-a", "small"),
                   "large": Outcome(i % 3 != 0, 0.4, 200 + i, "peer-b", "large")}
    r.per_mode["route"] = Outcome(i % 2 == 0, 0.1, 60 + i, "peer-a", "small")
    return r


def _report() -> EvalReport:
    records = [_record(i, "mc4", 4) for i in range(6)] + [_record(i, "yesno", 2) for i in range(4)]
    results = {name: evaluate_strategies([r for r in records if r.dataset == name], PEERS, MODES, 0)
               for name in ("mc4", "yesno")}
    results[POOLED] = evaluate_strategies(records, PEERS, MODES, 0)
    meta = {"command": "peermind bench eval --limit 6", "api": "x", "split": "test", "limit": 6, "seed": 0,
            "datasets": {"mc4": 6, "yesno": 4}, "modes": MODES, "skipped_modes": {"moa": "unknown mode"},
            "peers": [], "evaluated_on": {}, "started_at": "now", "wall_s": 1.0,
            "per_dataset": {k: [r.to_json() for r in v] for k, v in results.items()}, "scoring": "toy"}
    return EvalReport(PEERS, {"small": "peer-a", "large": "peer-b"}, records, results, {"moa": "unknown mode"}, meta)


def test_write_reports_creates_every_file(tmp_path: Path) -> None:
    files = write_reports(_report(), tmp_path / "out" / "run.json")
    names = sorted(f.name for f in files)
    assert names == sorted(["run.json", "run.md", "run.items.jsonl", "run.accuracy_vs_cost.png", "run.latency.png",
                            "run.mc4.accuracy_vs_cost.png", "run.yesno.accuracy_vs_cost.png"])
    results, meta = read_results_json(tmp_path / "out" / "run.json")
    assert [r.n for r in results] == [10] * len(MODES)  # the headline is the pooled set
    assert set(meta["per_dataset"]) == {"mc4", "yesno", POOLED}
    assert [c["scope"] for c in meta["goals"]["route"][:2]] == ["mc4", "yesno"]  # issue 12's goals, per dataset first
    lines = (tmp_path / "out" / "run.items.jsonl").read_text().splitlines()
    assert len(lines) == 10 and json.loads(lines[0])["per_model"]["small"]["cost"] == 0.1
    for f in files:
        if f.suffix == ".png":
            assert f.read_bytes()[:4] == b"\x89PNG"


def test_markdown_names_skips_binary_caveat_and_gap_recovered() -> None:
    report = _report()
    text = render_markdown(report, ["run.json"])
    assert "## All datasets pooled (n=10)" in text and "## mc4 (n=6)" in text and "## yesno (n=4)" in text
    assert "`moa`" in text and "two-way items" in text
    mc4_route = next(r for r in report.results["mc4"] if r.mode == "route")
    assert "gap_recovered" in mc4_route.extra
    assert all("gap_recovered" not in r.extra for r in report.results["yesno"])
    assert "## Goals of issue 12" in text and "**route (default mode)**" in text
    assert "| not below the best single model | mc4 | 6 |" in text and "two-way items included" in text
