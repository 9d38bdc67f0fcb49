"""`peermind testnet` end to end: real node processes with real models, driven through the CLI.

3 nodes (SmolLM2, Gemma-3, SmolLM2; one llama.cpp thread each): every node answers
through every other, a node killed with SIGKILL leaves the other two answering, `down`
leaves no process and no listening port, and `up` after a crash of every node recovers.
"""

import os
import signal
import time
from collections.abc import Iterator
from functools import partial
from itertools import permutations
from pathlib import Path

import pytest
from peermind.node.client import NodeClient
from peermind.testnet._launcher import Testnet
from peermind.testnet._state import NodeInfo
from proc_helpers import peermind as run_peermind

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONTEXT = "Question: What is the capital of France?\nAnswer:"
CHOICES = [" Paris", " Rome"]


peermind = partial(run_peermind, timeout_s=300)  # `testnet up` starts model nodes


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Testnet]:
    testnet = Testnet(tmp_path / "tn")
    try:
        yield testnet
    finally:
        testnet.down(grace_s=5)


def up(net: Testnet, n: int = 3) -> tuple[list[NodeInfo], float, str]:
    started = time.monotonic()
    done = peermind("testnet", "up", "--nodes", str(n), "--threads", "1", "--dir", str(net.dir))
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    _network, nodes = net.load()
    assert len(nodes) == n and all(x.alive() and x.api_url for x in nodes)
    return nodes, wall, done.stderr


def answers(asker: NodeInfo, peer: NodeInfo) -> str:
    with NodeClient(asker.api, timeout_s=120) as client:
        scores, prov = client.score(CONTEXT, CHOICES, peer=peer.peer_id, timeout_s=60)
    assert len(scores) == 2 and all(n > 0 for _lp, n in scores)
    return str(prov["answered_by"])


def test_up_answer_kill_down_recover(net: Testnet) -> None:
    nodes, wall, _err = up(net)
    print(f"\nwall time of `testnet up --nodes 3 --threads 1`: {wall:.1f}s")
    assert [x.model for x in nodes] == ["smollm2", "gemma3-270m", "smollm2"]

    status = peermind("testnet", "status", "--dir", str(net.dir))
    assert status.returncode == 0 and status.stdout.count("2/2") == 3, status.stdout  # each sees both others

    for asker, peer in permutations(nodes, 2):
        assert answers(asker, peer) == peer.peer_id

    victim, survivors = nodes[2], nodes[:2]
    killed = peermind("testnet", "fault", "kill", victim.name, "--dir", str(net.dir))
    assert killed.returncode == 0, killed.stderr
    assert not victim.alive()
    for asker, peer in permutations(survivors, 2):
        assert answers(asker, peer) == peer.peer_id
    for asker in survivors:  # the router may still try the dead peer (its ad is fresh) but must answer
        with NodeClient(asker.api, timeout_s=120) as client:
            _scores, prov = client.score(CONTEXT, CHOICES, mode="route", timeout_s=60)
        assert prov["answered_by"] in {x.peer_id for x in survivors}
    status = peermind("testnet", "status", "--dir", str(net.dir))
    assert "down" in status.stdout

    logs = peermind("testnet", "logs", "node-0", "--lines", "5", "--dir", str(net.dir))
    assert logs.returncode == 0 and logs.stdout.strip()

    down = peermind("testnet", "down", "--dir", str(net.dir))
    assert down.returncode == 0, down.stderr
    assert net.leftovers(nodes) == []
    assert not net.state_path.exists()

    # A crash of every node leaves the state file behind; the next `up` recovers.
    nodes, _wall, _err = up(net)
    for x in nodes:
        os.kill(x.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(x.alive() for x in nodes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert net.state_path.exists()
    status = peermind("testnet", "status", "--dir", str(net.dir))
    assert "crashed run" in status.stderr
    again, wall, err = up(net)
    print(f"wall time of `testnet up` after a crash: {wall:.1f}s")
    assert "recovering" in err
    assert answers(again[0], again[1]) == again[1].peer_id
    assert peermind("testnet", "down", "--dir", str(net.dir)).returncode == 0
    assert net.leftovers(again) == []


def test_second_up_beside_a_live_testnet_is_refused(net: Testnet) -> None:
    nodes, _wall, _err = up(net, 1)
    second = peermind("testnet", "up", "--nodes", "1", "--dir", str(net.dir))
    assert second.returncode == 2 and "already running" in second.stderr
    assert nodes[0].alive()
