"""The cold-start benchmark's report logic, on a hand-made result (no processes)."""

from __future__ import annotations

from pathlib import Path

from peermind.testnet._coldstart import Asked, ColdStartResult, interleaved, write_report


def result() -> ColdStartResult:
    r = ColdStartResult(nodes=3, profile="mix", adversary="wrong", warmup_s=60, up_s=5.0, entry="E")
    r.questions = [Asked(i, f"q{i}", "E" if i % 2 else "G", "m", i % 3 == 0, "") for i in range(30)]
    r.standings = {"G": {"name": "node-1", "model": "gemma3-270m", "adversary": False, "standing": "trusted",
                         "score": 0.8, "routing_weight": 1.0},
                   "W": {"name": "node-2", "model": "smollm2", "adversary": True, "standing": "do_not_ask",
                         "score": 0.05, "routing_weight": 0.0}}
    r.adversary_excluded_after = 7
    return r


def test_summary_counts_answers_elsewhere_first_and_overall() -> None:
    s = result().summary()
    assert (s["first"], s["elsewhere_first"], s["n"], s["elsewhere_all"]) == (20, 10, 30, 15)
    assert s["honest_excluded"] == [] and s["adversary_excluded_after"] == 7
    assert s["ci"][0] <= s["accuracy"] <= s["ci"][1]


def test_report_files_carry_the_command_and_the_table(tmp_path: Path) -> None:
    out = tmp_path / "cold.json"
    write_report(result(), out, "peermind bench coldstart --adversary wrong")
    md = out.with_suffix(".md").read_text()
    assert "peermind bench coldstart --adversary wrong" in md and "10/20 (50%)" in md and "excluded after" in md
    assert '"questions"' in out.read_text()


def test_questions_interleave_datasets_from_the_test_split() -> None:
    items = interleaved(("arc_easy", "sciq"), 5)
    assert len(items) == 5 and items[0].id != items[1].id
