"""Load-aware routing: this node's own requests in flight count as load before any ad shows it."""

from __future__ import annotations

from functools import partial

import trio
from collab_fakes import SMALL, FakeNet, candidate
from peermind.node.collab.inflight import InFlight
from peermind.node.collab.job import Job

GEN = Job.question("Capital of France?", max_tokens=16)


def test_in_flight_raises_a_stale_queue_depth_and_forgets_finished_requests() -> None:
    counts = InFlight()
    a, b = candidate("a", **SMALL), candidate("b", **SMALL, queue=3)
    with counts.track("a"), counts.track("a"), counts.track("b"):
        raised = counts.apply([a, b])
        assert [c.queue_depth for c in raised] == [2, 3]  # never below the ad, never added to it
    assert counts.count("a") == 0 and counts.apply([a]) == [a]


async def test_concurrent_questions_spread_over_equal_idle_peers() -> None:
    """Two peers with the same model and stale ads saying both are idle: a burst of four
    questions from a node that serves no model must not all land on the first."""
    net = FakeNet([candidate("a", **SMALL), candidate("b", **SMALL)])
    for peer in ("a", "b"):
        net.set(peer, delay_s=0.2)
    collab = net.collaborator()
    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(partial(collab.run, GEN, mode="route"))
            await trio.sleep(0.01)
    assert sorted(net.asked) == ["a", "a", "b", "b"]
    assert collab.in_flight.count("a") == collab.in_flight.count("b") == 0
