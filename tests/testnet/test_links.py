"""Light nodes and intermittent links on real processes, driven through the CLI as a user would.

One testnet for the module: `peermind testnet up --nodes 2 --profile small --threads 1
--light 1` (two SmolLM2 nodes and a light node started with `node run --model none`).
The light node joins and routes its questions to the model nodes, which never see it as
a candidate. `testnet fault drop node-1 --seconds S` cuts node-1 off: the ads of its
peers are dropped on both sides, a question to node-1 is answered by node-1 alone within
its budget and its provenance says so, and after `testnet fault clear` its questions
reach peers again and their feedback is recorded. A federated training run (`peermind
train start`) goes on without node-1 while its link is cut and takes it back into a
later round of the same run once the link returns.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from peermind.node.client import ApiRequestFailed, NodeClient
from peermind.testnet._launcher import Testnet
from peermind.testnet._state import NodeInfo
from proc_helpers import cli_testnet, peermind, wait_for

sys.path.insert(0, str(Path(__file__).parents[1] / "node"))
from training_kit import seed_store, synthetic_rows  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONTEXT = "Question: What is the capital of France?\nAnswer:"
CHOICES = [" Paris", " Rome"]


CLI_TIMEOUT_S = 300.0
TRAIN_ROUNDS = 1000  # more than the test watches: it only needs the run to outlast the cut and the redial


def peers_of(node: NodeInfo) -> set[str]:
    with NodeClient(node.api, timeout_s=10) as client:
        return {p["peer_id"] for p in client.peers()}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Testnet, list[NodeInfo]]]:
    with cli_testnet(Path(tmp_path_factory.mktemp("links")) / "tn", "--nodes", "2", "--profile", "small", "--threads", "1", "--light", "1", timeout_s=CLI_TIMEOUT_S) as started:
        yield started


def test_a_light_node_joins_routes_to_peers_and_is_never_a_candidate(net: tuple[Testnet, list[NodeInfo]]) -> None:
    testnet, nodes = net
    model_a, model_b, light = nodes
    assert [x.model for x in nodes] == ["smollm2", "smollm2", "none"]
    status = peermind("testnet", "status", "--dir", str(testnet.dir), timeout_s=CLI_TIMEOUT_S)
    assert status.returncode == 0 and status.stdout.count("2/2") == 3, status.stdout  # everyone sees everyone

    with NodeClient(model_a.api, timeout_s=60) as client:
        ads = {p["peer_id"]: p for p in client.peers()}
        assert ads[light.peer_id]["models"] == []  # it advertises that it serves no model
        light_rss = 0.0
    with NodeClient(light.api, timeout_s=120) as client:
        status_light = client.status()
        assert status_light["model"]["name"] == "none"
        light_rss = status_light["rss_mb"]
        for _ in range(3):
            scores, prov = client.score(CONTEXT, CHOICES, mode="route", timeout_s=60)
            assert len(scores) == 2 and prov["answered_by"] in {model_a.peer_id, model_b.peer_id}
    with NodeClient(model_a.api, timeout_s=60) as client:
        assert light_rss < client.status()["rss_mb"]  # no model loaded
        # a model node never routes to the light node, not even when asked for the cheapest answer
        for _ in range(3):
            _scores, prov = client.score(CONTEXT, CHOICES, mode="route", timeout_s=60)
            assert prov["answered_by"] != light.peer_id
            assert all(c.get("peer_id") != light.peer_id for c in prov.get("considered", []))


def test_round_trips_to_model_peers_are_measured_and_reach_routing(net: tuple[Testnet, list[NodeInfo]]) -> None:
    _testnet, nodes = net
    model_a, model_b, light = nodes

    def rtts() -> dict[str, float]:
        with NodeClient(model_a.api, timeout_s=30) as client:
            return dict(client.status()["rtt_ms"])

    wait_for(lambda: model_b.peer_id in rtts(), what="node-0 to ping node-1", timeout_s=40, interval_s=0.3)
    measured = rtts()
    assert measured[model_b.peer_id] > 0 and light.peer_id not in measured  # light nodes are never targets
    with NodeClient(model_a.api, timeout_s=60) as client:
        _scores, prov = client.score(CONTEXT, CHOICES, mode="route", timeout_s=60)
    remote = [c for c in prov["considered"] if c["peer_id"] == model_b.peer_id]
    assert remote and remote[0]["rtt_ms"] > 0  # the estimate the router used includes the round trip


def test_a_cut_off_node_answers_alone_within_budget_says_so_and_recovers(net: tuple[Testnet, list[NodeInfo]]) -> None:
    testnet, nodes = net
    model_a, model_b, light = nodes
    dropped = peermind("testnet", "fault", "drop", "node-1", "--seconds", "40", "--period", "0.05", "--dir", str(testnet.dir),
                       timeout_s=CLI_TIMEOUT_S)
    assert dropped.returncode == 0, dropped.stderr
    try:
        # peers' ads vanish on both sides of the cut (a dropped connection drops the ad)
        wait_for(lambda: not peers_of(model_b) & {model_a.peer_id, light.peer_id}, what="node-1 to drop its peers' ads",
                 timeout_s=60, interval_s=0.3)
        wait_for(lambda: model_b.peer_id not in peers_of(model_a), what="node-0 to drop node-1's ad", timeout_s=60, interval_s=0.3)
        with NodeClient(model_b.api, timeout_s=120) as client:
            started = time.monotonic()
            _scores, prov = client.score(CONTEXT, CHOICES, mode="route", budget_ms=20000, timeout_s=60)
            wall_ms = (time.monotonic() - started) * 1000
        assert prov["answered_by"] == model_b.peer_id
        assert "offline: no peer reachable" in prov["reason"]
        assert wall_ms < 20000
    finally:
        cleared = peermind("testnet", "fault", "clear", "node-1", "--dir", str(testnet.dir), timeout_s=CLI_TIMEOUT_S)
        assert cleared.returncode == 0, cleared.stderr
    # links return: ads come back, questions reach peers again and their feedback is kept
    wait_for(lambda: {model_a.peer_id, light.peer_id} <= peers_of(model_b), what="node-1 to see its peers again", timeout_s=90,
             interval_s=0.3)
    with NodeClient(model_b.api, timeout_s=120) as client:
        _scores, prov = client.score(CONTEXT, CHOICES, peer=model_a.peer_id, timeout_s=60)
        assert prov["answered_by"] == model_a.peer_id and "offline" not in prov["reason"]
        _scores, prov = client.score(CONTEXT, CHOICES, mode="route", timeout_s=60)
        assert "offline" not in prov["reason"]
        labelled: list[dict[str, int]] = []

        def label() -> bool:  # the row is written once the query embedder has encoded it
            try:
                labelled.append(client.feedback(prov["task_id"], correct=True))
            except ApiRequestFailed:
                return False
            return True

        wait_for(label, what="the answer's feedback row", timeout_s=120, interval_s=0.3)
    assert labelled[-1]["labelled"] >= 1  # the labelled row went into node-1's store


def train_run(node: NodeInfo, run_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{node.api_url}/peermind/train/status?run_id={run_id}", timeout=30).json()["run"])


def test_training_goes_on_without_a_cut_off_participant_and_takes_it_back_when_its_link_returns(
        net: tuple[Testnet, list[NodeInfo]]) -> None:
    testnet, nodes = net
    model_a, model_b, _light = nodes
    for node, rows in zip(nodes, synthetic_rows(len(nodes)), strict=True):  # labelled feedback, as seeding leaves it
        seed_store(Path(node.data_dir), rows, prefix=node.name)
    wait_for(lambda: model_b.peer_id in peers_of(model_a), what="node-0 to hold node-1's ad", timeout_s=90, interval_s=0.3)
    started = peermind("train", "start", "--api", model_a.api, "--rounds", str(TRAIN_ROUNDS), "--min-nodes", "1",
                       "--local-epochs", "200", "--round-timeout", "5", "--detach", timeout_s=CLI_TIMEOUT_S)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()

    def rounds() -> list[dict[str, Any]]:
        return list(train_run(model_a, run_id)["rounds"])

    wait_for(lambda: any(model_b.peer_id in r["participants"] for r in rounds()), what="node-1 in a round",
             timeout_s=60, interval_s=0.2)
    dropped = peermind("testnet", "fault", "drop", "node-1", "--seconds", "3", "--period", "0.05", "--dir", str(testnet.dir),
                       timeout_s=CLI_TIMEOUT_S)
    assert dropped.returncode == 0, dropped.stderr
    try:
        lost_in = wait_for(lambda: next((r["round"] for r in rounds() if model_b.peer_id in r["failed"]), None),
                           what="a round that lost node-1", timeout_s=30, interval_s=0.2)
    finally:
        cleared = peermind("testnet", "fault", "clear", "node-1", "--dir", str(testnet.dir), timeout_s=CLI_TIMEOUT_S)
        assert cleared.returncode == 0, cleared.stderr
    # the run went on without node-1 and takes it back once its link is up again
    back_in = wait_for(lambda: next((r["round"] for r in rounds() if r["round"] > lost_in
                                     and model_b.peer_id in r["participants"]), None),
                       what="node-1 back in a later round of the same run", timeout_s=60, interval_s=0.3)
    run = train_run(model_a, run_id)
    assert run["state"] in ("running", "done"), run["error"]
    between = [r for r in run["rounds"] if lost_in <= r["round"] < back_in]
    assert between and all(model_a.peer_id in r["participants"] for r in between)  # the coordinator kept training
