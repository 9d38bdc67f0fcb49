"""``peermind bench links``: the block plan and figures on hand-made answers, a bad flag, and
one small run of the command on real processes (one SmolLM2 node, one light node asking)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from peermind.bench import Item
from peermind.testnet._links_bench import Answer, LinksBenchResult, figures, markdown, plan_blocks
from proc_helpers import peermind


def _item(i: int) -> Item:
    return Item(id=f"t/{i}", dataset="t", query=f"q{i}", choices=("a", "b"), gold=0, answer=None, kind="mc")


def test_blocks_ask_every_item_once_per_condition_in_balanced_order() -> None:
    items = [_item(i) for i in range(5)]
    blocks = plan_blocks(items)
    assert [c for c, _ in blocks] == ["clean", "degraded", "degraded", "clean"]
    for condition in ("clean", "degraded"):
        asked = [x.id for c, block in blocks if c == condition for x in block]
        assert sorted(asked) == sorted(x.id for x in items)
    assert blocks[0][1] == blocks[1][1] and blocks[2][1] == blocks[3][1]  # A B | B A over the two halves


def _answers() -> list[Answer]:
    out = []
    for i in range(20):
        out.append(Answer(f"t/{i}", "clean", 1, correct=i % 2 == 0, latency_ms=1000.0 + i, answered_by="p1"))
        slow = 5000.0 if i == 0 else 1200.0 + i  # one question over a 3000 ms budget
        out.append(Answer(f"t/{i}", "degraded", 2, correct=i % 2 == 0, latency_ms=slow, answered_by="p1",
                          est_latency_ms=1500.0, rtt_ms=45.0))
    out.append(Answer("t/99", "warmup", 0, correct=True, latency_ms=9000.0))  # never counted
    out.append(Answer("t/20", "degraded", 3, correct=False, latency_ms=10.0, error="refused: busy"))
    out.append(Answer("t/21", "clean", 4, correct=False, latency_ms=12.0,
                      error="infeasible_constraints: no peer satisfies budget_ms (HTTP 422, infeasible_constraints)"))
    return out


def test_figures_count_budget_errors_and_pair_by_item() -> None:
    f = figures(_answers(), budget_ms=3000.0)
    assert f["clean"]["n"] == 21 and f["degraded"]["n"] == 21
    assert f["clean"]["within_budget"]["value"] == pytest.approx(20 / 21)  # refused as infeasible: not answered
    assert f["clean"]["budget_kept"]["value"] == 1.0 and f["clean"]["infeasible"] == 1  # ... but the budget held
    assert f["degraded"]["within_budget"]["value"] == pytest.approx(19 / 21)  # one slow, one error
    assert f["degraded"]["budget_kept"]["value"] == pytest.approx(19 / 21)  # late, or refused for another reason
    assert f["budget_respected_95"] == {"clean": True, "degraded": False}
    assert f["budget_kept_95"] == {"clean": True, "degraded": False}
    assert f["degraded"]["errors"] == 1
    assert f["paired"]["n"] == 20  # t/20 was never asked clean
    assert f["paired"]["p50_ratio"]["value"] == pytest.approx(1210.5 / 1009.5)
    assert f["paired"]["accuracy_diff"]["value"] == 0.0
    assert {a["item"] for a in f["over_budget"]} == {"t/0", "t/20", "t/21"}


def test_the_report_states_the_table_and_the_budget_note() -> None:
    answers = _answers()
    result = LinksBenchResult(
        settings={"dataset": "t", "split": "test", "budget_ms": 3000.0, "degrade": ["node-1:rtt=40ms"]},
        load_before="load average: 1.0", load_after="load average: 2.0",
        nodes=[{"name": "node-0", "model": "smollm2", "peer_id": "p1"}, {"name": "node-1", "model": "none", "peer_id": "p2"}],
        answers=answers, figures=figures(answers, 3000.0))
    text = markdown(result, "peermind bench links --items 20")
    assert "`peermind bench links --items 20`" in text and "load average: 1.0" in text
    assert "| p95 latency ms (bootstrap 95% CI) |" in text and "node-0 (smollm2): 20" in text
    assert "degraded: answered within budget_ms in 90.5% of questions (below 95%)" in text
    assert "clean: answered within budget_ms in 95.2% of questions (at least 95%)" in text
    assert "refused in time because no peer could meet it) in 100.0% (at least 95%)" in text


def test_a_bad_degrade_flag_is_one_line_and_starts_nothing(tmp_path: Path) -> None:
    run = peermind("bench", "links", "--degrade", "node-1:rtt=fast", "--out", str(tmp_path / "l.json"),
                   "--testnet-dir", str(tmp_path / "net"))
    assert run.returncode != 0
    assert "rtt takes a time such as 80ms" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "net").exists() and not (tmp_path / "l.json").exists()


@pytest.mark.integration
@pytest.mark.slow
def test_bench_links_runs_clean_and_degraded_on_real_processes(tmp_path: Path) -> None:
    out = tmp_path / "links.json"
    run = peermind("bench", "links", "--profile", "small", "--nodes", "1", "--light", "1", "--items", "2",
                   "--warmup", "1", "--budget-ms", "60000", "--degrade", "node-0:rtt=40ms,bw=2mbit,loss=1%",
                   "--out", str(out), "--testnet-dir", str(tmp_path / "net"), timeout_s=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| accuracy (Wilson 95% CI) |" in run.stdout and out.with_suffix(".md").read_text() == run.stdout
    data = json.loads(out.read_text())
    assert data["command"].startswith("peermind bench links --profile small")
    assert "load average" in data["load_before"] and "load average" in data["load_after"]
    answers = [a for a in data["answers"] if a["condition"] != "warmup"]
    assert sorted((a["condition"], a["item"]) for a in answers) == sorted(
        (c, i) for c in ("clean", "degraded") for i in {a["item"] for a in answers})
    assert len(answers) == 4 and not any(a["error"] for a in answers)
    assert {a["answered_by"] for a in answers} == {data["nodes"][0]["peer_id"]}  # the light node asks node-0
    degraded_rtt = [v for k, rtts in data["rtt_ms"].items() if k.endswith("degraded") for v in rtts.values()]
    assert degraded_rtt and min(degraded_rtt) >= 20  # the asker measured the 40 ms link before asking
    assert data["figures"]["budget_respected_95"] == {"clean": True, "degraded": True}
    assert not (tmp_path / "net" / "links" / "testnet.json").exists()  # taken down
