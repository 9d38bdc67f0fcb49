"""`peermind bench eval` against a running 2-node testnet (SmolLM2 + Gemma-3, real models)."""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from peermind.bench import read_results_json
from peermind.testnet._launcher import Testnet
from peermind.testnet._profiles import BENCH_NODE_SETTINGS, set_args
from peermind.testnet._state import STATE_FILE, NodeInfo

pytestmark = pytest.mark.integration

RESULT_KEYS = {"mode", "accuracy", "ci95", "n", "mean_cost", "p50_latency_ms", "p95_latency_ms", "extra"}
META_KEYS = {"command", "api", "split", "limit", "seed", "datasets", "modes", "skipped_modes", "peers",
             "evaluated_on", "per_dataset", "scoring", "wall_s"}


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NodeInfo]]:
    net = Testnet(tmp_path_factory.mktemp("tn"))
    try:
        yield net.up(2, profile="mix", threads=1, extra_args=set_args(BENCH_NODE_SETTINGS))
    finally:
        net.down(grace_s=5)


def bench_eval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "peermind.node.cli", "bench", "eval", *args],
                          capture_output=True, text=True, timeout=600, check=False)


def test_eval_writes_results_table_and_plots(two_nodes: list[NodeInfo], tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    done = bench_eval("--api", two_nodes[0].api, "--limit", "3", "--datasets", "arc_easy", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(out.read_text())
    assert document["schema"] == "peermind.bench.results/1"
    assert META_KEYS <= set(document["meta"])
    modes = [r["mode"] for r in document["results"]]
    assert {"single:smollm2", "single:gemma3-270m", "random", "always-strongest", "oracle", "route"} <= set(modes)
    for row in document["results"]:
        assert RESULT_KEYS <= set(row) and row["n"] == 3
        assert 0 <= row["ci95"][0] <= row["accuracy"] <= row["ci95"][1] <= 1
        assert row["mean_cost"] > 0 and row["p50_latency_ms"] > 0
    # modes the node does not serve are reported as skipped, never silently dropped
    for mode in ("cascade", "vote", "moa"):
        assert (mode in modes) != (mode in document["meta"]["skipped_modes"])
    results, _meta = read_results_json(out)  # the bench package reads it back
    assert len(results) == len(modes)
    for suffix in (".md", ".items.jsonl", ".accuracy_vs_cost.png", ".latency.png"):
        path = out.with_suffix(suffix) if suffix == ".md" else Path(str(out.with_suffix("")) + suffix)
        assert path.exists() and path.stat().st_size > 0, suffix
        if suffix.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    items = [json.loads(line) for line in Path(str(out.with_suffix("")) + ".items.jsonl").read_text().splitlines()]
    assert len(items) == 3 and set(items[0]["per_model"]) == {"smollm2", "gemma3-270m"}
    assert "| mode | accuracy %" in done.stdout  # the Markdown table is printed too


def test_eval_on_users_own_jsonl(two_nodes: list[NodeInfo], tmp_path: Path) -> None:
    data = tmp_path / "mine.jsonl"
    data.write_text(
        '{"query": "What is the capital of France?", "choices": ["Paris", "Rome", "Oslo"], "gold": 0}\n'
        '{"query": "Which is a fruit?", "choices": ["a car", "an apple"], "gold": 1}\n'
    )
    out = tmp_path / "mine.json"
    done = bench_eval("--api", two_nodes[0].api, "--data", str(data), "--mode", "single", "--mode", "oracle",
                      "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(out.read_text())
    assert document["meta"]["datasets"] == {"mine": 2}
    assert [r["mode"] for r in document["results"]] == ["single:smollm2", "single:gemma3-270m", "oracle"]


def test_eval_rejects_bad_input_with_one_line(two_nodes: list[NodeInfo], tmp_path: Path) -> None:
    bad = bench_eval("--api", two_nodes[0].api, "--datasets", "nope", "--out", str(tmp_path / "x.json"))
    assert bad.returncode == 2 and "unknown dataset" in bad.stderr and "Traceback" not in bad.stderr
    bad = bench_eval("--api", two_nodes[0].api, "--datasets", "arc_easy", "--limit", "1",
                     "--mode", "single:gpt-9", "--out", str(tmp_path / "x.json"))
    assert bad.returncode == 2 and "no peer serves" in bad.stderr
    bad = bench_eval("--api", two_nodes[0].api, "--protocol", "lodo", "--datasets", "sciq", "--limit", "1",
                     "--out", str(tmp_path / "x.json"))
    assert bad.returncode == 2 and "drop --api" in bad.stderr and "Traceback" not in bad.stderr
    bad = bench_eval("--protocol", "lodo", "--datasets", "sciq", "--lodo-steps", "ten", "--out", str(tmp_path / "x.json"))
    assert bad.returncode == 2 and "--lodo-steps" in bad.stderr and "Traceback" not in bad.stderr


def test_leave_one_dataset_out_on_a_fresh_three_node_testnet(tmp_path: Path) -> None:
    """Two held-out datasets, each on its own fresh testnet: seeded without it, 2 labels, rerendered."""
    out = tmp_path / "lodo.json"
    done = bench_eval("--protocol", "lodo", "--datasets", "sciq,csqa", "--limit", "2", "--lodo-steps", "0,2",
                      "--seed-limit", "3", "--seed-validation-limit", "2", "--nodes", "3", "--threads", "1",
                      "--testnet-dir", str(tmp_path / "nets"), "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    meta = json.loads(out.read_text())["meta"]
    assert meta["protocol"] == "lodo" and meta["steps"] == [0, 2]
    items = [json.loads(line) for line in Path(str(out.with_suffix("")) + ".items.jsonl").read_text().splitlines()]
    assert len(items) == 4
    for held_out, other in (("sciq", "csqa"), ("csqa", "sciq")):
        run = meta["lodo"]["per_dataset"][held_out]
        assert run["seeded_on"] == [other]
        test_ids = {i["item_id"] for i in items if i["dataset"] == held_out}
        assert len(run["feedback"]) == 2 and not test_ids & {f["item_id"] for f in run["feedback"]}
        assert all(f["rows_labelled"] >= 1 for f in run["feedback"])
        labelled = [run["router"][k]["feedback"]["labelled"] for k in ("0", "2")]
        assert labelled[1] >= labelled[0] + 2  # the two labels reached the node's rows
    for item in items:
        assert set(item["per_model"]) == {"smollm2", "gemma3-270m"}
        assert {"route@0", "route@2", "auto@0", "auto@2"} <= set(item["per_mode"])
    assert {"route@2", "auto@2"} <= set(meta["goals"])
    assert "| labelled answers seen |" in done.stdout
    report = out.with_suffix(".md").read_text()
    rebuilt = subprocess.run([sys.executable, "-m", "peermind.node.cli", "bench", "eval", "--rerender", "--out", str(out)],
                             capture_output=True, text=True, timeout=120, check=False)
    assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
    assert out.with_suffix(".md").read_text() == report
    assert sorted(p.name for p in (tmp_path / "nets").iterdir()) == ["csqa", "sciq"]
    assert not list((tmp_path / "nets").glob(f"*/{STATE_FILE}"))  # both testnets were stopped
