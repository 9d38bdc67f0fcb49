"""Emulated links on real processes: `testnet up --link`, `fault degrade`, and RTT-aware routing.

`peermind testnet up --nodes 2 --profile mix --threads 1 --light 1 --link node-1:rtt=800ms`:
node-0 SmolLM2 next door, node-1 Gemma-3 (the bigger model, which routing prefers)
800 ms away, node-2 a light node asking. Every connection crosses the link proxy. The
light node's pings measure node-1's distance and its latency estimate carries it; with a
budget_ms that Gemma's round trip breaks, route picks the near SmolLM2 every time. `fault degrade`
brings node-1 next door and the measured round trip follows.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from peermind.node.client import NodeClient
from peermind.testnet._launcher import Testnet
from peermind.testnet._state import NodeInfo
from proc_helpers import cli_testnet, peermind, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONTEXT = "Question: What is the capital of France?\nAnswer:"
CHOICES = [" Paris", " Rome"]


CLI_TIMEOUT_S = 300.0


def rtt_of(asker: NodeInfo, peer: NodeInfo) -> float | None:
    with NodeClient(asker.api, timeout_s=30) as client:
        return client.status()["rtt_ms"].get(peer.peer_id)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Testnet, list[NodeInfo]]]:
    directory = Path(tmp_path_factory.mktemp("emulated")) / "tn"
    try:
        with cli_testnet(directory, "--nodes", "2", "--profile", "mix", "--threads", "1", "--light", "1",
                         "--link", "node-1:rtt=800ms", timeout_s=CLI_TIMEOUT_S) as started:
            yield started
    finally:
        assert not (directory / "links.json").exists()


def test_route_counts_the_far_peers_round_trip_against_the_budget(net: tuple[Testnet, list[NodeInfo]]) -> None:
    testnet, nodes = net
    near, far, light = nodes
    assert [x.model for x in nodes] == ["smollm2", "gemma3-270m", "none"]
    wait_for(lambda: (rtt_of(light, far) or 0) >= 700 and rtt_of(light, near) is not None, what="pings through the links",
             timeout_s=60, interval_s=0.5)
    assert (rtt_of(light, near) or 0) < 400  # the near peer is not behind the slow link
    with NodeClient(light.api, timeout_s=120) as client:
        _scores, free = client.score(CONTEXT, CHOICES, mode="route", timeout_s=60)
        considered = {c["peer_id"]: c for c in free["considered"]}
        assert considered[far.peer_id]["rtt_ms"] >= 700  # its 800 ms link is in its estimate
        est = {peer: c["est_latency_ms"] for peer, c in considered.items()}
        assert est[far.peer_id] > est[near.peer_id]
        budget = (est[far.peer_id] + est[near.peer_id]) / 2
        for _ in range(3):
            time.sleep(2.5)  # the light node is a newcomer to near: 0.5 task requests/s (burst 2.5)
            _scores, prov = client.score(CONTEXT, CHOICES, mode="route", budget_ms=budget, timeout_s=60)
            assert prov["answered_by"] == near.peer_id

    degraded = peermind("testnet", "fault", "degrade", "node-1", "--link", "rtt=0ms", "--dir", str(testnet.dir),
                        timeout_s=CLI_TIMEOUT_S)
    assert degraded.returncode == 0 and "rtt=0ms" in degraded.stdout, degraded.stderr
    wait_for(lambda: (rtt_of(light, far) or 1e9) < 400, what="the measured round trip to follow the degraded link",
             timeout_s=120, interval_s=0.5)
