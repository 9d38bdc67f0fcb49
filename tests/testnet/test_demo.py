"""`peermind testnet demo` run as the README shows it: real node processes, real models.

One run with the defaults must end with exit code 0, the accuracy table (the network next
to each model alone, 95% CI) and at least 20 answered questions. A run in which a node is
killed under the demo (a real fault, by `peermind testnet fault kill`) must end non-zero
with one line naming the failed step, no traceback, and no process left behind.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from peermind.testnet._launcher import Testnet

PEERMIND = Path(sys.executable).with_name("peermind")  # the installed command, as a user types it
QUESTION_LINE = re.compile(r"^\s+(\d+)/(\d+) [✓✗] ", re.MULTILINE)
DEMO_TIMEOUT_S = 2400.0  # 3 real nodes on a shared 2-core machine


def _command(*args: str) -> list[str]:
    return [str(PEERMIND), *args] if PEERMIND.exists() else [sys.executable, "-m", "peermind.node.cli", *args]


def _assert_nothing_left(directory: Path) -> None:
    _network, nodes = Testnet(directory).load()
    alive = [n.name for n in nodes if n.alive()]
    assert not alive, f"nodes still running after the demo: {alive}"
    assert not Testnet(directory).orphans(nodes)


def _stop(directory: Path) -> None:
    subprocess.run(_command("testnet", "down", "--dir", str(directory)), capture_output=True, timeout=120, check=False)


def test_bad_arguments_are_one_line(tmp_path: Path) -> None:
    for args, text in ((["--nodes", "1"], "at least 2 nodes"), (["--questions", "0"], "--questions"),
                       (["--warmup", "-1"], "--warmup")):
        done = subprocess.run(_command("testnet", "demo", "--dir", str(tmp_path / "net"), *args),
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 2, done.stderr
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        assert lines == [lines[0]] and lines[0].startswith("peermind: ") and text in lines[0], done.stderr
        assert not (tmp_path / "net" / "node-0").exists()  # nothing was started


def test_report_and_results_file_from_answers(tmp_path: Path) -> None:
    """Pure: the accuracy table, the who-answered split and demo-results.json from hand-made answers."""
    import io

    from peermind.bench import Item
    from peermind.testnet._demo_ask import Answer, Results, Solo, print_report, write_results
    from peermind.testnet._state import NodeInfo
    from rich.console import Console

    nodes = [NodeInfo(name=f"node-{i}", data_dir="/d", log="/d/log", pid=1, model=m, peer_id=f"P{i}")
             for i, m in enumerate(("smollm2", "gemma3-270m"))]
    names = {n.peer_id: f"{n.name} ({n.model})" for n in nodes}
    items = [Item(f"q{i}", "arc_easy", "Q?", ("a", "b"), 0, None, "mc") for i in range(4)]
    results = Results(
        network=[Answer(True, 0, 0.02, 900, "P1", "best utility"), Answer(True, 0, 0.005, 300, "P0", "cheap"),
                 Answer(False, 1, 0.02, 900, "P1", "best utility"), Answer(True, 0, 0.02, 950, "P1", "best utility")],
        solo={"smollm2": [Answer(c, 0 if c else 1, 0.005, 300, "P0") for c in (False, True, False, False)],
              "gemma3-270m": [Answer(c, 0 if c else 1, 0.02, 900, "P1") for c in (True, False, False, True)]},
    )
    solo = [Solo("smollm2", nodes[0]), Solo("gemma3-270m", nodes[1])]
    out = io.StringIO()
    print_report(Console(file=out, width=160), results, solo, nodes[0], names)
    text = out.getvalue()
    assert "accuracy on the same 4 test-split questions (95% CI, Wilson)" in text
    assert re.search(r"network \(route via node-0\)\s+│\s+75% │\s+30%–95% │ 4 │\s+0\.0163", text), text
    assert "node-1 (gemma3-270m) ×3, node-0 (smollm2) ×1; 3 of 4 by a peer other than the entry node node-0" in text
    assert "network 75% vs the best model alone (gemma3-270m) 50%: +25 points at 81% of its mean cost" in text
    write_results(tmp_path / "r.json", items, results, solo, names)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["summary"]["network"] == {"accuracy": 0.75, "mean_cost": 0.01625, "n": 4}
    assert data["questions"][1]["network"]["answered_by_name"] == "node-0 (smollm2)"
    assert data["questions"][0]["alone"]["smollm2"]["correct"] is False


@pytest.mark.integration
@pytest.mark.slow
def test_demo_as_the_readme_runs_it(tmp_path: Path) -> None:
    directory = tmp_path / "net"
    try:
        done = subprocess.run(_command("testnet", "demo", "--dir", str(directory)), capture_output=True, text=True,
                              timeout=DEMO_TIMEOUT_S, check=False)
    finally:
        _stop(directory)
    out, err = done.stdout, done.stderr
    assert done.returncode == 0, f"exit {done.returncode}\nstderr:\n{err[-3000:]}\nstdout:\n{out[-6000:]}"
    assert "Traceback" not in out + err
    answered = {int(m.group(1)) for m in QUESTION_LINE.finditer(out)}
    assert len(answered) >= 20, out[-6000:]
    assert "accuracy on the same 20 test-split questions (95% CI" in out
    for row in ("network (route via node-0)", "smollm2 alone (node-0, local)", "gemma3-270m alone (node-1, local)"):
        assert row in out, f"{row!r} missing from the report:\n{out[-4000:]}"
    split = re.search(r"network answers by: (.*); \d+ of 20 by a peer other than the entry node", out)
    assert split, out[-4000:]
    answerers = set(re.findall(r"(node-\d+) \([^)]*\) ×\d+", split.group(1)))
    assert len(answerers) >= 2, f"issue 12: the demo shows different peers answering; only {answerers}"
    assert "why: " in out
    assert re.search(r"warm-up \d+ s \(limit 60 s\)", out)
    assert "federated round" in out and "`peermind train start --rounds 1`: done" in out
    assert "killed node-" in out and "no process or listening port left behind" in out
    summary = json.loads((directory / "demo-results.json").read_text())["summary"]
    assert summary["network"]["n"] == 20 and {"smollm2", "gemma3-270m"} <= set(summary)
    _assert_nothing_left(directory)


@pytest.mark.integration
@pytest.mark.slow
def test_a_failed_step_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    """Kill the Gemma node as the questions start: asking that model alone fails, so the step does."""
    directory = tmp_path / "net"
    proc = subprocess.Popen(_command("testnet", "demo", "--dir", str(directory), "--warmup", "0", "--no-train"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out: list[str] = []
    killed = False
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + DEMO_TIMEOUT_S
        for line in proc.stdout:
            out.append(line)
            if not killed and re.match(r"^4/6 \d+ questions through", line):
                fault = subprocess.run(_command("testnet", "fault", "kill", "node-1", "--dir", str(directory)),
                                       capture_output=True, text=True, timeout=60, check=False)
                assert fault.returncode == 0, fault.stderr
                killed = True
            assert time.monotonic() < deadline, "the demo did not end"
        rc = proc.wait(timeout=300)
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
        _stop(directory)
    stdout = "".join(out)
    assert killed, f"the questions step never started (exit {rc}): {err}\n{stdout[-3000:]}"
    assert rc == 2, f"exit {rc}\nstderr:\n{err}\nstdout:\n{stdout[-3000:]}"
    assert "Traceback" not in stdout + err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("peermind: demo step 4/6 (questions) failed: asking gemma3-270m alone: no peermind node API"), lines[0]
    assert "stopped" in stdout  # the demo tore its testnet down before exiting
    _assert_nothing_left(directory)
