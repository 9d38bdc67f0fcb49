"""Peers heard from reach the store in batches: news at once, repeats only after the refresh, none lost.

A real SQLite store; a fake clock. Written on every ad, each sighting cost its own
transaction on the event loop (~10% of an idle light node's busy samples at N = 50).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from peermind.node.errors import StoreError
from peermind.node.known_peers import KnownPeers
from peermind.node.store import DB_FILENAME, Store
from peermind.protocol import CapabilityAd

P = "12D3KooWDfAdsomHhuyr2tYbh1Gt1dn9hyF1MyXqMGJL5KwP8icb"
Q = "12D3KooWKUENXGaofM8W4dFA55vcV1yxx6wsVKaVPLfTsWapEVmP"


def _ad(peer: str, port: int, seq: int) -> CapabilityAd:
    other = f"/ip4/127.0.0.1/tcp/9/p2p/{Q if peer == P else P}"  # an ad cannot record another peer's address
    return CapabilityAd(network="n", ttl_s=60, seq=seq, addrs=(f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer}", other))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_peer_is_written_when_new_when_it_moves_and_after_the_refresh_in_one_batch(tmp_path: Path) -> None:
    clock = Clock()
    with Store.open(tmp_path / DB_FILENAME) as store:
        known = KnownPeers(store, refresh_s=600.0, clock=clock)
        known.heard(P, _ad(P, 4001, 1), b"ad-p-1")
        known.heard(Q, _ad(Q, 4002, 1), b"ad-q-1")
        assert store.list_peers() == []  # nothing written before the flush
        known.flush()
        rows = {r.peer_id: r for r in store.list_peers()}
        assert known.writes == 1 and set(rows) == {P, Q}
        assert rows[P].addrs == (f"/ip4/127.0.0.1/tcp/4001/p2p/{P}",) and rows[P].last_ad == b"ad-p-1"
        clock.now += 20  # a periodic republish, same addresses: not news
        known.heard(P, _ad(P, 4001, 2), b"ad-p-2")
        known.flush()
        assert known.writes == 1 and store.list_peers()[0].last_seen == 1000.0
        known.heard(Q, _ad(Q, 4100, 2), b"ad-q-2")  # restarted on a new port: written
        clock.now += 600  # and P is due for a refresh of its last_seen
        known.heard(P, _ad(P, 4001, 3), b"ad-p-3")
        known.flush()
        rows = {r.peer_id: r for r in store.list_peers()}
        assert known.writes == 2
        assert rows[Q].addrs == (f"/ip4/127.0.0.1/tcp/4100/p2p/{Q}",) and rows[Q].last_seen == 1020.0
        assert rows[P].last_seen == 1620.0 and rows[P].last_ad == b"ad-p-3" and rows[P].first_seen == 1000.0


def test_a_failed_write_keeps_the_sightings_for_the_next_batch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Store.open(tmp_path / DB_FILENAME) as store:
        known = KnownPeers(store)
        known.heard(P, _ad(P, 4001, 1), b"ad")

        def full(_records: object) -> None:
            raise StoreError("disk full")

        real = store.upsert_peers
        store.upsert_peers = full  # type: ignore[method-assign]
        known.flush()
        assert known.writes == 0 and "could not record the peers" in caplog.text
        store.upsert_peers = real  # type: ignore[method-assign]
        known.flush()
        assert known.writes == 1 and [r.peer_id for r in store.list_peers()] == [P]


async def test_the_last_sightings_are_written_when_the_node_stops(tmp_path: Path) -> None:
    with Store.open(tmp_path / DB_FILENAME) as store:
        known = KnownPeers(store, flush_s=3600.0)
        async with trio.open_nursery() as nursery:
            await nursery.start(known.run)
            known.heard(P, _ad(P, 4001, 1), b"ad")
            nursery.cancel_scope.cancel()
        assert [r.peer_id for r in store.list_peers()] == [P]
