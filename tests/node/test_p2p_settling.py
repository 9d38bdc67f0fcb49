"""JoinSettling: a starting node's idle LLM work waits until the ads of its network are in."""

from __future__ import annotations

from peermind.node.p2p.ads import AdBoard
from peermind.node.p2p.settling import JoinSettling
from peermind.protocol import CapabilityAd


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _ad(seq: int = 1) -> CapabilityAd:
    return CapabilityAd(network="t", addrs=[], ttl_s=600, seq=seq)


def test_settles_once_no_new_peer_arrived_for_the_quiet_time() -> None:
    clock = _Clock()
    board = AdBoard(now=clock)
    joined = JoinSettling(board, quiet_s=5.0, max_wait_s=60.0, now=clock)
    clock.now += 3.0
    board.offer("a", _ad())
    assert not joined.settled()
    clock.now += 4.0  # 4 s after a's ad, 7 s after start
    assert not joined.settled()
    board.offer("b", _ad())
    clock.now += 4.9
    board.offer("a", _ad(2))  # a known peer's next ad does not restart the wait
    assert not joined.settled()
    clock.now += 0.2
    assert joined.settled()


def test_a_peer_whose_ad_dropped_and_came_back_counts_as_new() -> None:
    clock = _Clock()
    board = AdBoard(now=clock)
    joined = JoinSettling(board, quiet_s=5.0, max_wait_s=60.0, now=clock)
    board.offer("a", _ad())
    clock.now += 4.0
    assert not joined.settled()
    board.remove("a")  # its connection dropped
    clock.now += 0.5
    assert not joined.settled()
    board.offer("a", _ad(2))
    clock.now += 4.0  # 8.5 s after a's first ad, 4 s after its return
    assert not joined.settled()
    clock.now += 1.0
    assert joined.settled()


def test_a_network_that_keeps_changing_settles_at_the_latest_after_max_wait() -> None:
    clock = _Clock()
    board = AdBoard(now=clock)
    joined = JoinSettling(board, quiet_s=5.0, max_wait_s=20.0, now=clock)
    for i in range(10):
        clock.now += 2.0
        board.offer(f"p{i}", _ad())
        assert joined.settled() == (i == 9)
    board.offer("late", _ad())
    assert joined.settled()  # past max_wait it stays so


def test_newcomers_unsettle_a_settled_node_until_max_wait() -> None:
    """The first nodes of a testnet settle before the rest start; the rest join through them."""
    clock = _Clock()
    board = AdBoard(now=clock)
    joined = JoinSettling(board, quiet_s=5.0, max_wait_s=60.0, now=clock)
    board.offer("a", _ad())
    clock.now += 6.0
    assert joined.settled()
    board.offer("newcomer", _ad())
    assert not joined.settled()
    clock.now += 5.0
    assert joined.settled()


def test_a_node_alone_settles_after_the_quiet_time() -> None:
    clock = _Clock()
    joined = JoinSettling(AdBoard(now=clock), quiet_s=5.0, max_wait_s=60.0, now=clock)
    assert not joined.settled()
    clock.now += 5.0
    assert joined.settled()


def test_the_wait_starts_when_the_node_goes_online_not_when_it_was_built() -> None:
    """Loading and measuring a model takes seconds: a node must not count as settled the moment it
    goes online, before any peer's ad could have arrived."""
    clock = _Clock()
    board = AdBoard(now=clock)
    joined = JoinSettling(board, quiet_s=5.0, max_wait_s=60.0, now=clock)
    clock.now += 20.0  # model load and speed measurement
    joined.start()
    assert not joined.settled()
    clock.now += 2.0
    board.offer("a", _ad())
    clock.now += 4.0
    assert not joined.settled()
    clock.now += 1.1  # 5 s after a's ad
    assert joined.settled()
    clock.now += 60.0 - 7.1 + 0.1  # and the cap counts from going online too
    board.offer("b", _ad())
    assert joined.settled()
