"""The ``peermind`` parser is built from light modules only, so every command starts fast.

Each command (even ``--help``) builds the whole parser, entry-point groups included; a
module-level import of libp2p, torch or Flower anywhere on that path costs every
invocation seconds. The check runs in a fresh interpreter: this test process has long
since imported the heavy packages itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from peermind.node import cli

HEAVY = ("libp2p", "torch", "sentence_transformers", "llama_cpp", "flwr", "numpy",
         "starlette", "hypercorn", "matplotlib", "pyarrow")

BUILD_PARSER = f"""
import argparse, json, sys
from peermind.node.cli import build_parser

parser = build_parser()
groups = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
print(json.dumps({{"commands": sorted(groups), "heavy": heavy}}))
"""


def _build_in_fresh_interpreter() -> dict[str, list[str]]:
    done = subprocess.run([sys.executable, "-c", BUILD_PARSER], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, list[str]] = json.loads(done.stdout)
    return result


def test_building_the_full_parser_imports_no_heavy_module() -> None:
    result = _build_in_fresh_interpreter()
    plugins = {ep.name for ep in entry_points(group="peermind.commands")}
    assert {"testnet", "bench"} <= plugins, "entry points missing: run `.venv/bin/pip install -q --no-deps -e .`"
    # The parser really is the full one: node groups and every entry-point group.
    assert {"node", "status", "ask", "router", "feedback", "train", "trust", "top", *plugins} <= set(result["commands"])
    assert result["heavy"] == [], (
        f"building the parser imported {sorted({m.split('.')[0] for m in result['heavy']})}: "
        "import them inside the command handlers, not at module level of a registration module"
    )


def test_cli_reads_the_api_url_the_daemon_writes(tmp_path: Path) -> None:
    """The CLI reads ``node.json`` itself (the daemon module is heavy); both must agree on it."""
    from peermind.node.daemon import STATE_FILE, NodeState

    assert cli.STATE_FILE == STATE_FILE
    assert cli._running_api(tmp_path) is None  # no node has run here
    NodeState(peer_id="12D3KooWtest", pid=1, network="peermind", api_url="http://127.0.0.1:18080",
              addrs=[], model="smollm2", started_at=0.0).write(tmp_path)
    assert cli._running_api(tmp_path) == "http://127.0.0.1:18080"
    (tmp_path / STATE_FILE).write_text("{not json")
    assert cli._running_api(tmp_path) is None  # damaged: fall back to the configured API


def test_the_daemon_does_not_import_plotting() -> None:
    """A node never draws a plot; matplotlib would add ~29 MB to every daemon's idle RSS."""
    code = "import sys, peermind.node.daemon; print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_daemon_imports_flower_and_pyarrow_only_when_needed() -> None:
    """Flower (with grpc, ~40 MB) loads when a training run starts, pyarrow (~30 MB) only when the
    benchmark cache is built: a node that just serves and routes carries neither."""
    code = ("import sys, peermind.node.daemon; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'flwr', 'grpc', 'pyarrow'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
