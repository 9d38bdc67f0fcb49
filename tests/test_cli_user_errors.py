"""Mistakes a user can make on any `peermind` command: one line on stderr, exit code 2, never a traceback.

The command x error matrix is docs/cli-errors.md; tests/node/test_node_cli_errors.py covers the
API commands (bad address, no node, wrong token, something else at the address) and node start-up
(ports in use, bad flags and files). This table adds the rest: argparse's own mistakes, the
testnet, bench and docs commands, each run as the user types it. None of them starts a node.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stderr
from pathlib import Path

import pytest

PEERMIND = Path(sys.executable).with_name("peermind")

Setup = Callable[[Path], None]


def _a_file(name: str) -> Setup:
    return lambda tmp: (tmp / name).write_text("a file, not a directory\n")


def _nothing(_tmp: Path) -> None:
    pass


# (id, arguments with {tmp} for the test's directory, what the one line must say, set-up)
CASES: list[tuple[str, list[str], list[str], Setup]] = [
    ("no-command", [], ["required: COMMAND", "`peermind --help`"], _nothing),
    ("unknown-command", ["nosuch"], ["invalid choice: 'nosuch'"], _nothing),
    ("unknown-flag", ["status", "--bogus"], ["unrecognized arguments: --bogus"], _nothing),
    ("bad-choice", ["ask", "hi", "--mode", "nosuch"], ["ask:", "--mode", "'nosuch'", "`peermind ask --help`"], _nothing),
    ("bad-number", ["invite", "--ttl-hours", "abc"], ["invite:", "--ttl-hours", "'abc'"], _nothing),
    ("missing-argument", ["feedback"], ["feedback:", "task_id"], _nothing),
    ("plugin-bad-choice", ["testnet", "up", "--profile", "nosuch"], ["testnet up:", "'nosuch'"], _nothing),
    ("fault-no-testnet", ["testnet", "fault", "slow", "node-1", "--dir", "{tmp}/none"], ["no single node 'node-1'"], _nothing),
    ("up-dir-is-a-file", ["testnet", "up", "--nodes", "2", "--dir", "{tmp}/f"], ["{tmp}/f", "not a directory"], _a_file("f")),
    ("up-bad-link", ["testnet", "up", "--nodes", "2", "--link", "node-1:rtt=abc", "--dir", "{tmp}/net"],
     ["rtt", "'abc'"], _nothing),
    ("identity-bits", ["bench", "identity", "--bits", "abc"], ["--bits", "'abc'"], _nothing),
    ("identity-n", ["bench", "identity", "--bits", "8", "--n", "0"], ["--n"], _nothing),
    ("envelope-seconds", ["bench", "envelope", "--seconds", "0"], ["--seconds"], _nothing),
    ("system-sizes", ["bench", "system", "--sizes", "3,x", "--testnet-dir", "{tmp}/net"], ["--sizes", "'3,x'"], _nothing),
    ("coldstart-questions", ["bench", "coldstart", "--questions", "0", "--dir", "{tmp}/net"], ["--questions"], _nothing),
    ("knowledge-per-topic", ["bench", "knowledge", "--per-topic", "0", "--dir", "{tmp}/net"], ["--per-topic"], _nothing),
    ("trust-nodes", ["bench", "trust", "--nodes", "0", "--out", "{tmp}/t.json", "--testnet-dir", "{tmp}/net"],
     ["--nodes >= 2"], _nothing),
    ("trust-adversary-cpu", ["bench", "trust", "--adversary-cpu", "-1", "--out", "{tmp}/t.json", "--testnet-dir",
                             "{tmp}/net"], ["--adversary-cpu", "-1"], _nothing),
    ("trust-work-share", ["bench", "trust", "--newcomer-work-share", "2", "--out", "{tmp}/t.json", "--testnet-dir",
                          "{tmp}/net"], ["--newcomer-work-share", "2"], _nothing),
    ("collab-nodes", ["bench", "collab", "--nodes", "0", "--out", "{tmp}/c.json", "--dir", "{tmp}/net"], ["--nodes >= 2"],
     _nothing),
    ("eval-unknown-mode", ["bench", "eval", "--mode", "nosuch", "--testnet-dir", "{tmp}/net"], ["unknown mode 'nosuch'"],
     _nothing),
    ("eval-rerender-missing", ["bench", "eval", "--rerender", "--out", "{tmp}/none.json"], ["{tmp}/none.json"], _nothing),
    ("eval-warmup-negative", ["bench", "eval", "--warmup", "-5", "--testnet-dir", "{tmp}/net"], ["--warmup", "-5"],
     _nothing),
    ("eval-warmup-with-api", ["bench", "eval", "--warmup", "60", "--api", "127.0.0.1:1"], ["--warmup", "--api"],
     _nothing),
    ("docs-add-missing", ["docs", "add", "{tmp}/none", "--data-dir", "{tmp}/d"], ["{tmp}/none", "not a directory or file"],
     _nothing),
    ("node-docs-missing", ["node", "run", "--docs", "{tmp}/none", "--data-dir", "{tmp}/d", "--listen",
                           "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"], ["--docs", "{tmp}/none"], _nothing),
    ("node-listen-garbage", ["node", "run", "--listen", "garbage", "--data-dir", "{tmp}/d", "--api", "127.0.0.1:0"],
     ["listen", "'garbage'"], _nothing),
    ("node-api-garbage", ["node", "run", "--api", "garbage", "--data-dir", "{tmp}/d", "--listen", "/ip4/127.0.0.1/tcp/0"],
     ["api", "host:port"], _nothing),
]


@pytest.mark.parametrize(("args", "expected", "setup"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_one_line_and_exit_code_2(tmp_path: Path, args: list[str], expected: list[str], setup: Setup) -> None:
    setup(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    done = subprocess.run([str(PEERMIND), *argv], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, f"exit {done.returncode}\nstderr:\n{done.stderr}\nstdout:\n{done.stdout[-2000:]}"
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("peermind: "), lines[0]
    for text in expected:
        assert text.replace("{tmp}", str(tmp_path)) in lines[0], lines[0]
    assert not (tmp_path / "d" / "node.db").exists()  # a mistake starts nothing
    assert not (tmp_path / "net" / "node-0").exists()
    assert not any(tmp_path.glob("*.json")), "a mistake writes no results file"


def test_one_line_parser_names_the_subcommand_and_its_help() -> None:
    """Pure: the parser every `peermind` command is built from (no process)."""
    from peermind.node.cli_errors import OneLineParser

    root = OneLineParser(prog="peermind")
    sub = root.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask")
    ask.add_argument("--mode", choices=["route"])
    assert isinstance(ask, OneLineParser)  # subcommands (and plugins added through them) inherit it
    for argv, start in ((["ask", "--mode", "x"], "peermind: ask: argument --mode: invalid choice: 'x'"),
                        ([], "peermind: the following arguments are required: command")):
        err = io.StringIO()
        with redirect_stderr(err), pytest.raises(SystemExit) as exited:
            root.parse_args(argv)
        assert exited.value.code == 2
        assert err.getvalue().count("\n") == 1 and err.getvalue().startswith(start), err.getvalue()
    assert isinstance(root, argparse.ArgumentParser)
