"""Seeding labels rows on every node that takes part, over real node processes.

A fresh 3-node testnet (SmolLM2, Gemma-3, SmolLM2 on real GGUF models), driven only
through the CLI as a user would: ``router seed`` on node-0, then the README's
``train start --rounds 2 --min-nodes 3``. Idle learning and idle canary probes are off,
so the only labelled rows node-1 and node-2 can have are the verdicts node-0 sent them
(before the outcome protocol, training refused with ``no_data``). A user's
``peermind feedback`` on an answer node-1 gave also reaches node-1, and ``router seed
--data FILE.jsonl`` seeds from the user's own items (a malformed line is named).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from proc_helpers import peermind as run_peermind

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUIET = {"PEERMIND_ROUTER__LEARN_INTERVAL_S": "0", "PEERMIND_TRUST__PROBE_INTERVAL_S": "0"}
VERDICT_MODES = ("outcome",)  # an asker's validation verdicts keep its split in their own column


peermind = partial(run_peermind, env=QUIET, timeout_s=600)  # seeding 3 nodes' rows takes minutes under load


@pytest.fixture
def testnet(tmp_path: Path) -> Iterator[list[dict[str, str]]]:
    net = tmp_path / "net"
    up = peermind("testnet", "up", "--nodes", "3", "--threads", "1", "--dir", str(net))
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        state = json.loads((net / "testnet.json").read_text())
        yield [{"api": n["api_url"].removeprefix("http://"), "peer": n["peer_id"], "model": n["model"]}
               for n in state["nodes"]]
    finally:
        peermind("testnet", "down", "--dir", str(net))


def feedback_counts(api: str) -> dict[str, int]:
    status = peermind("router", "status", "--json", "--api", api)
    assert status.returncode == 0, status.stderr
    return json.loads(status.stdout)["feedback"]["by_mode"]


def verdict_rows(api: str) -> int:
    counts = feedback_counts(api)
    return sum(counts.get(mode, 0) for mode in VERDICT_MODES)


def test_seed_labels_rows_on_every_participant_and_training_runs(testnet: list[dict[str, str]], tmp_path: Path) -> None:
    seeder, gemma, small = testnet
    assert (seeder["model"], gemma["model"], small["model"]) == ("smollm2", "gemma3-270m", "smollm2")
    assert all(verdict_rows(n["api"]) == 0 for n in testnet)

    seed = peermind("router", "seed", "--api", seeder["api"], "--datasets", "arc_easy,sciq", "--limit", "6",
                    "--validation-limit", "4", "--generation-items", "1", "--json")
    assert seed.returncode == 0, seed.stdout[-2000:] + seed.stderr[-2000:]
    progress = json.loads(seed.stdout)
    gemma_judged = progress["per_model"]["gemma3-270m"]["done"] - 2  # two generations carry no verdict
    assert gemma_judged == 2 * (6 + 4) and progress["notified"] >= gemma_judged

    deadline = time.monotonic() + 30  # verdicts leave in batches, at most one notice a second per peer
    while verdict_rows(gemma["api"]) < gemma_judged and time.monotonic() < deadline:
        time.sleep(1)
    assert verdict_rows(gemma["api"]) == gemma_judged  # one row per judged answer, none twice
    assert verdict_rows(small["api"]) > 0
    assert feedback_counts(seeder["api"]).get("outcome", 0) == 0  # its own rows are seed rows

    own_items(seeder, gemma, tmp_path)

    train = peermind("train", "start", "--rounds", "2", "--min-nodes", "3", "--api", seeder["api"])
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-2000:]

    before = verdict_rows(gemma["api"])
    ask = peermind("ask", "--api", seeder["api"], "--peer", gemma["peer"], "--mode", "route",
                   "Which gas do plants take in from the air?")
    assert ask.returncode == 0, ask.stderr[-2000:]
    task = re.search(r"task ([0-9a-f]{32})", ask.stderr)
    assert task is not None, ask.stderr
    marked = peermind("feedback", task.group(1), "--correct", "--api", seeder["api"])
    assert marked.returncode == 0, marked.stderr
    deadline = time.monotonic() + 20
    while verdict_rows(gemma["api"]) == before and time.monotonic() < deadline:
        time.sleep(1)
    assert verdict_rows(gemma["api"]) == before + 1


def own_items(seeder: dict[str, str], gemma: dict[str, str], tmp_path: Path) -> None:
    """``router seed --data``: the user's items become seed rows like benchmark items; a bad line is named."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "Ice is?", "choices": ["hot", "cold"], "gold": 1}\n{"query": "2 + 2?", "answer": 4}\n')
    refused = peermind("router", "seed", "--api", seeder["api"], "--data", str(bad))
    assert refused.returncode == 2 and f"{bad}:2: seed items are multiple choice" in refused.stderr
    good = tmp_path / "mine.jsonl"
    lines = [{"id": f"q{i}", "query": q, "choices": c, "gold": g, "split": "train"} for i, (q, c, g) in enumerate([
        ("Which planet is closest to the Sun?", ["Mercury", "Mars", "Jupiter"], 0),
        ("What do bees make?", ["milk", "honey", "silk"], 1),
        ("Water freezes at how many degrees Celsius?", ["0", "50", "100"], 0),
    ])]
    good.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    seeds_before, verdicts_before = feedback_counts(seeder["api"]).get("seed", 0), verdict_rows(gemma["api"])
    seeded = peermind("router", "seed", "--api", seeder["api"], "--data", str(good), "--json")
    assert seeded.returncode == 0, seeded.stdout[-2000:] + seeded.stderr[-2000:]
    assert json.loads(seeded.stdout)["plan"] == {**json.loads(seeded.stdout)["plan"], "datasets": [], "items": 3}
    assert feedback_counts(seeder["api"]).get("seed", 0) == seeds_before + 2 * 3  # both models, each item
    deadline = time.monotonic() + 30
    while verdict_rows(gemma["api"]) < verdicts_before + 3 and time.monotonic() < deadline:
        time.sleep(1)
    assert verdict_rows(gemma["api"]) == verdicts_before + 3
