"""``peermind top``'s screen and the CLI's progress bars, rendered without a network."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

from peermind.node.progress import Stages
from peermind.node.top import build_view, run_top, sparkline
from rich.console import Console

ME = "12D3KooWSe1fSe1fSe1fSe1fSe1fSe1fSe1fSe1fSe1fSe1fMEMEME"
LIAR = "12D3KooWBadBadBadBadBadBadBadBadBadBadBadBadBadBLIARS"


def _state() -> dict[str, Any]:
    now = time.time()
    liar_trust = {"score": 0.05, "standing": "banned", "global": 0.01,
                  "history": [[now - 9, 0.3], [now - 5, 0.1], [now, 0.05]],
                  "evidence": {"total": 7, "positive": 1, "negative": 6}}
    return {
        "node": {"peer_id": ME, "network": "unit", "uptime_s": 12.0, "model": {"name": "smollm2", "gen_tps": 55.0},
                 "queue": {"depth": 1, "max": 8}},
        "topology": {"self": ME, "nodes": [
            {"peer_id": ME, "self": True, "model": "smollm2", "tier": "device", "gen_tps": 55.0},
            {"peer_id": LIAR, "connected": True, "model": "gemma3-270m", "tier": "cloud", "gen_tps": 20.0,
             "queue_depth": 0, "max_queue": 8, "load": 0.0, "cost_per_1k": 0.4, "trust": liar_trust},
        ]},
        "answers": [{"id": 1, "at": now, "status": "ok", "mode": "vote",
                     "provenance": {"mode": "vote", "answered_by": LIAR, "model": "gemma3-270m", "confidence": 0.7,
                                    "latency_ms": 812.0, "cost": 0.002, "escalated": True}}],
        "tasks": [{"direction": "in", "peer": LIAR, "status": "ok", "model": "smollm2", "latency_ms": 300.0,
                   "created_at": now - 1}],
        "trust": {"peers": {LIAR: liar_trust}, "thresholds": {"ask": 0.12}},
        "training": {"rounds": [{"run_id": "run-1", "round": 2, "participants": [ME, LIAR], "excluded": [LIAR],
                                 "metrics": {"val_accuracy": 0.61}, "adopted": True}]},
    }


def _render(state: dict[str, Any], **kw: Any) -> str:
    console = Console(file=io.StringIO(), width=170, height=40, record=True)
    console.print(build_view(state, api="127.0.0.1:8080", **kw))
    return console.export_text()


def test_view_shows_peers_tasks_trust_and_training() -> None:
    text = _render(_state())
    assert "this node" in text and "…" + LIAR[-6:] in text
    assert "gemma3-270m" in text and "banned" in text and "7 (+1/−6)" in text
    assert "vote" in text and "812 ms" in text and "escalated" in text
    assert "for …" + LIAR[-6:] in text  # a task this node served
    assert "1 excluded" in text and "adopted" in text and "val_accuracy 0.610" in text


def test_view_survives_an_empty_or_broken_state() -> None:
    text = _render({"topology": {"error": "boom"}, "trust": None, "answers": "??"}, error="cannot read: refused")
    assert "no tasks yet" in text and "no evidence yet" in text and "cannot read: refused" in text


def test_once_prints_a_frame_and_reports_an_unreachable_node() -> None:
    out = io.StringIO()
    assert run_top(_state, api="x", once=True, console=Console(file=out, width=160)) == 0
    assert "recent tasks" in out.getvalue()

    def unreachable() -> dict[str, Any]:
        raise ConnectionError("refused")

    assert run_top(unreachable, api="x", once=True, console=Console(file=io.StringIO(), width=160)) == 1


def test_sparkline_scales_to_blocks() -> None:
    assert sparkline([0.0, 0.5, 1.0]) == "▁▅█"
    assert sparkline([2.0, -1.0]) == "█▁"  # clamped


def test_stages_print_lines_off_a_terminal_and_remember_durations(tmp_path: Path) -> None:
    history = tmp_path / "timings.json"
    out = io.StringIO()
    with Stages(history, console=Console(file=out, width=120)) as stages:
        assert stages.expected_s("load", 7.0) == 7.0
        with stages.stage("load", "loading smollm2", 7.0):
            time.sleep(0.05)
    text = out.getvalue()
    assert "loading smollm2 (expected ~7s)" in text and "loading smollm2: done in" in text
    took = json.loads(history.read_text())["load"]
    assert 0.04 < took < 5
    assert Stages(history).expected_s("load", 7.0) == took  # the next run's ETA


def test_stages_draw_bars_with_an_eta_on_a_terminal(tmp_path: Path) -> None:
    console = Console(file=io.StringIO(), width=120, force_terminal=True, record=True)
    with Stages(None, console=console) as stages:
        with stages.stage("measure", "measuring smollm2's speed", 30.0):
            time.sleep(0.3)
    text = console.export_text()
    assert "measuring smollm2's speed" in text and "done in" in text and "━" in text
