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
from peermind.testnet._state import NodeInfo

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
