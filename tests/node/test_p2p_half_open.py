"""HalfOpenPeers: a subscribed, connected peer our pubsub never opened a stream to is closed after a while."""

from __future__ import annotations

from types import SimpleNamespace

import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID
from peermind.node.p2p.ads import AdBoard, AdGossip, ads_topic
from peermind.node.p2p.half_open import HalfOpenPeers
from peermind.protocol import Signer, Verifier


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _peer() -> ID:
    return ID.from_pubkey(create_new_key_pair().public_key)


def test_a_peer_without_our_stream_is_due_after_the_wait_once() -> None:
    clock = _Clock()
    half = HalfOpenPeers(after_s=15.0, now=clock)
    stuck, healthy, client = _peer(), _peer(), _peer()
    connected = [stuck, healthy, client]
    subscribed = [stuck, healthy]  # the client never subscribed: not ours to judge
    assert half.due(subscribed, [healthy], connected) == []
    clock.now += 14.9
    assert half.due(subscribed, [healthy], connected) == []
    clock.now += 0.1
    assert half.due(subscribed, [healthy], connected) == [stuck]
    assert half.due(subscribed, [healthy], connected) == []  # forgotten once due: the wait starts over


def test_a_stream_that_opens_late_or_a_connection_that_goes_resets_the_wait() -> None:
    clock = _Clock()
    half = HalfOpenPeers(after_s=15.0, now=clock)
    late, gone = _peer(), _peer()
    assert half.due([late, gone], [], [late, gone]) == []
    clock.now += 10.0
    assert half.due([late, gone], [late], [late]) == []  # late got its stream, gone disconnected
    clock.now += 10.0
    assert half.due([late, gone], [], [late, gone]) == []  # both half-open again: a new wait
    clock.now += 15.0
    assert sorted(map(str, half.due([late, gone], [], [late, gone]))) == sorted(map(str, [late, gone]))


async def test_a_peer_that_gossips_in_neither_direction_gets_our_stream_again_not_a_closed_connection() -> None:
    """Both negotiations timed out: no subscription from it, no stream to it. The half-open rule
    cannot see it (it closes only subscribed peers); we try our stream once more instead."""
    silent, subscribed_only, fine = (_peer() for _ in range(3))
    opened: list[ID] = []

    async def handle_new_peer(peer: ID) -> None:
        opened.append(peer)

    gossip = AdGossip(object(), Signer.generate(), Verifier(), AdBoard(), "t", _never,  # type: ignore[arg-type]
                      republish_s=5.0, on_evidence=lambda *_a: None)
    gossip._pubsub = SimpleNamespace(peer_topics={ads_topic("t"): {subscribed_only}}, peers={fine: object()},  # type: ignore[assignment]
                                     _handle_new_peer=handle_new_peer)
    tracker = HalfOpenPeers(after_s=0.0)
    async with trio.open_nursery() as nursery:
        gossip._reopen_silent(tracker, [silent, subscribed_only, fine], nursery)
    assert opened == [silent]


async def _never() -> None:
    raise AssertionError("not publishing in this test")
