"""``peermind bench relay``'s pure parts: the paired summary and the report (no nodes)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from peermind.testnet._relay_bench import (
    RelayBenchResult,
    _check_paths,
    served_latency_ms,
    summarise,
    write_report,
)
from peermind.testnet.errors import TestnetError


def test_summary_pairs_rounds_and_brackets_the_added_latency() -> None:
    direct = [100.0, 200.0, 150.0, 120.0, 180.0, 160.0]
    relayed = [d + 5.0 for d in direct]
    s = summarise(relayed, direct, [10.0 + 5.0] * 6, [10.0] * 6)
    assert s["n"] == 6 and s["added_median_ms"] == pytest.approx(5.0)
    assert s["added_ci_low_ms"] == pytest.approx(5.0) and s["added_ci_high_ms"] == pytest.approx(5.0)
    assert s["ratio"] == pytest.approx(160.0 / 155.0)


def test_report_says_within_noise_when_the_interval_includes_zero(tmp_path: Path) -> None:
    result = RelayBenchResult("peermind bench relay --rounds 4", 4, 4, "load 1", "load 2",
                              {"a->b": "relay", "c->b": "direct"}, {"a->b": "relay", "c->b": "direct"},
                              relayed_ms=[100.0, 90.0, 130.0, 95.0], direct_ms=[95.0, 100.0, 120.0, 99.0],
                              relayed_overhead_ms=[10.0, 8.0, 12.0, 9.0], direct_overhead_ms=[9.0, 10.0, 11.0, 10.0])
    result.summary = summarise(result.relayed_ms, result.direct_ms, result.relayed_overhead_ms,
                               result.direct_overhead_ms)
    md = write_report(result, tmp_path / "relay.json")
    assert "within noise" in md and "peermind bench relay --rounds 4" in md and "n = 4" in md
    assert json.loads((tmp_path / "relay.json").read_text())["relayed_ms"] == [100.0, 90.0, 130.0, 95.0]
    assert (tmp_path / "relay.md").read_text() == md


def test_a_figure_over_the_wrong_path_is_refused() -> None:
    _check_paths({"a->b": "relay", "c->b": "direct"})
    with pytest.raises(TestnetError, match="not the ones measured"):
        _check_paths({"a->b": "relay", "c->b": "relay"})


def test_served_latency_is_the_latest_task_served_to_that_asker(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE tasks (id INTEGER PRIMARY KEY, direction TEXT, peer TEXT, latency_ms REAL)")
    conn.executemany("INSERT INTO tasks (direction, peer, latency_ms) VALUES (?, ?, ?)",
                     [("in", "a", 10.0), ("in", "c", 20.0), ("out", "a", 99.0), ("in", "a", 30.0)])
    conn.commit()
    conn.close()
    assert served_latency_ms(db, "a") == 30.0 and served_latency_ms(db, "c") == 20.0
    with pytest.raises(TestnetError, match="no task served"):
        served_latency_ms(db, "nobody")
