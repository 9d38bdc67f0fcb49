"""Reports: JSON that parses and round-trips, a Markdown table, and real PNG files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.image
import pytest
from peermind.bench import (
    DataFormatError,
    StrategyResult,
    markdown_table,
    plot_accuracy_vs_cost,
    plot_latency,
    read_results_json,
    write_results_json,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def results() -> list[StrategyResult]:
    return [
        StrategyResult.from_outcomes("single:smollm2", [True, False] * 50, [1.0] * 100, [600.0 + i for i in range(100)]),
        StrategyResult.from_outcomes("single:gemma", [True] * 55 + [False] * 45, [3.0] * 100, [1600.0] * 100),
        StrategyResult.from_outcomes(
            "cascade", [True] * 60 + [False] * 40, [1.8] * 100, [900.0] * 100, {"escalation_rate": 0.4}
        ),
        StrategyResult.from_outcomes("oracle", [True] * 67 + [False] * 33, [4.0] * 100, []),
    ]


def test_from_outcomes_summarises(results: list[StrategyResult]) -> None:
    smol = results[0]
    assert smol.accuracy == 0.5 and smol.n == 100 and smol.mean_cost == 1.0
    assert smol.ci95[0] < 0.5 < smol.ci95[1]
    assert smol.p50_latency_ms == pytest.approx(649.5) and smol.p95_latency_ms == pytest.approx(694.05)
    assert math.isnan(results[3].p50_latency_ms)


def test_results_json_is_valid_and_round_trips(results: list[StrategyResult], tmp_path: Path) -> None:
    path = write_results_json(results, tmp_path / "out" / "results.json", {"dataset": "arc_easy", "split": "test"})
    document = json.loads(path.read_text())  # strict JSON: NaN became null
    assert document["meta"] == {"dataset": "arc_easy", "split": "test"}
    first = document["results"][0]
    for key in ("mode", "accuracy", "ci95", "n", "mean_cost", "p50_latency_ms", "p95_latency_ms"):
        assert key in first
    assert document["results"][2]["extra"] == {"escalation_rate": 0.4}
    assert document["results"][3]["p50_latency_ms"] is None
    back, meta = read_results_json(path)
    assert meta["split"] == "test" and [r.mode for r in back] == [r.mode for r in results]
    assert back[2] == results[2]
    (tmp_path / "junk.json").write_text("{}")
    with pytest.raises(DataFormatError):
        read_results_json(tmp_path / "junk.json")


def test_markdown_table(results: list[StrategyResult]) -> None:
    table = markdown_table(results)
    lines = table.strip().splitlines()
    assert len(lines) == 2 + len(results)
    assert lines[0].startswith("| mode | accuracy %")
    assert "| cascade | 60.0 |" in table and "escalation_rate=0.4" in table
    assert "n/a" in lines[-1]


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
    height, width = matplotlib.image.imread(path).shape[:2]
    assert width > 300 and height > 200


def test_plots_write_real_pngs(results: list[StrategyResult], tmp_path: Path) -> None:
    _assert_png(plot_accuracy_vs_cost(results, tmp_path / "plots" / "acc.png"))
    _assert_png(
        plot_latency({"single:smollm2": [600.0 + i for i in range(100)], "cascade": [900.0, 950.0, 4000.0], "x": []},
                     tmp_path / "lat.png")
    )
    _assert_png(plot_accuracy_vs_cost([], tmp_path / "empty.png"))
    _assert_png(plot_latency({}, tmp_path / "empty-lat.png"))
