"""``write_bench_results``: every bench command's JSON + markdown pair, written one way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from peermind.testnet._bench_results import write_bench_results


def test_writes_the_json_and_the_markdown_beside_it_and_shows_them_when_asked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "new" / "run.json"
    assert write_bench_results(out, {"ratio": 1.02, "command": "peermind bench x"}, "# x\n") == "# x\n"
    assert json.loads(out.read_text()) == {"ratio": 1.02, "command": "peermind bench x"}
    assert out.with_suffix(".md").read_text() == "# x\n"
    assert capsys.readouterr().out == ""  # quiet unless shown
    write_bench_results(out, {}, "# y\n", show=True)
    shown = capsys.readouterr()
    assert shown.out == "# y\n" and f"wrote {out} and {out.with_suffix('.md')}" in shown.err
