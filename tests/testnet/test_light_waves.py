"""A testnet with more light nodes than its model nodes take in: most light nodes join through light ones.

`peermind testnet up --nodes 1 --profile small --threads 1 --light 5` (trust on, as for a
user): node-0 serves SmolLM2; light nodes 1-2 join through it and, once they are up, light
nodes 3-5 join through them (``join_waves``). Every node still holds every other node's ad,
and a question asked at the last light node is routed over the network to node-0's model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from peermind.node.client import NodeClient
from peermind.testnet._launcher import Testnet
from peermind.testnet._state import NodeInfo
from proc_helpers import cli_testnet, peermind

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLI_TIMEOUT_S = 300.0
CONTEXT = "Question: What is the capital of France?\nAnswer:"
CHOICES = [" Paris", " Rome"]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Testnet, list[NodeInfo]]]:
    with cli_testnet(Path(tmp_path_factory.mktemp("waves")) / "tn", "--nodes", "1", "--profile", "small", "--threads", "1", "--light", "5", timeout_s=CLI_TIMEOUT_S) as started:
        yield started


def _bootstrap_peers(testnet: Testnet, node: NodeInfo) -> set[str]:
    """The peer IDs a node was told to join through (its command line, logged first in node.log)."""
    command = next(line for line in (testnet.dir / node.name / "node.log").read_text().splitlines()
                   if line.startswith("=== "))
    words = command.split()
    return {words[i + 1].rsplit("/p2p/", 1)[1] for i, word in enumerate(words) if word == "--bootstrap"}


def test_later_light_nodes_join_through_light_seeds_and_everyone_sees_everyone(
        net: tuple[Testnet, list[NodeInfo]]) -> None:
    testnet, nodes = net
    assert [x.model for x in nodes] == ["smollm2"] + ["none"] * 5
    model, seeds, later = nodes[0], nodes[1:3], nodes[3:]
    for seed in seeds:
        assert _bootstrap_peers(testnet, seed) == {model.peer_id}
    for node in later:
        assert _bootstrap_peers(testnet, node) <= {s.peer_id for s in seeds}
        assert len(_bootstrap_peers(testnet, node)) == 1
    status = peermind("testnet", "status", "--dir", str(testnet.dir), timeout_s=CLI_TIMEOUT_S)
    assert status.returncode == 0 and status.stdout.count("5/5") == 6, status.stdout  # everyone sees everyone


def test_a_question_at_a_light_node_that_joined_through_a_light_seed_reaches_the_model(
        net: tuple[Testnet, list[NodeInfo]]) -> None:
    _testnet, nodes = net
    model, last = nodes[0], nodes[-1]
    with NodeClient(last.api, timeout_s=120) as client:
        scores, prov = client.score(CONTEXT, CHOICES, mode="route", timeout_s=90)
    assert len(scores) == 2 and prov["answered_by"] == model.peer_id
