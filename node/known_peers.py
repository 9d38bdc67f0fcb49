"""The peers this node heard from, written to its store in batches, not once per ad.

The store's ``peers`` table lets a restarted node dial its old neighbours (``REJOIN_WINDOW_S``,
a day). Written on every ad received, it cost each ad its own SQLite transaction and a
multiaddr parse on the event loop: in a 50-node testnet at rest that was ~10% of a light
node's busy samples (py-spy, session 11), and a newcomer handed 49 ads at once wrote 49
transactions while it joined. Now an ad is noted in memory; a peer is written when first
heard, when its addresses change, or ``REFRESH_S`` after its last write, all pending peers
in one transaction every ``FLUSH_S`` and on stop. A crash loses at most ``FLUSH_S`` of
sightings, which the rejoin window does not notice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import trio
from peermind.protocol import CapabilityAd

from .errors import NodeError
from .p2p.host import addrs_of
from .store import PeerSighting, Store

log = logging.getLogger("peermind.node.known_peers")

FLUSH_S = 2.0
"""How long a sighting waits in memory before its batch is written."""
REFRESH_S = 600.0
"""A peer whose addresses did not change is written again after this long (its ``last_seen``)."""


class KnownPeers:
    """Coalesces the ad intake's peer sightings into batched store writes."""

    def __init__(self, store: Store, *, flush_s: float = FLUSH_S, refresh_s: float = REFRESH_S,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._flush_s = flush_s
        self._refresh_s = refresh_s
        self._clock = clock
        self._written: dict[str, tuple[tuple[str, ...], float]] = {}  # peer -> (ad addrs, when written)
        self._pending: dict[str, tuple[CapabilityAd, bytes, float]] = {}
        self.writes = 0
        """Batches written (for tests and metrics)."""

    def heard(self, peer: str, ad: CapabilityAd, raw: bytes) -> None:
        """Note ``peer``'s verified ad; written with the next batch if it is news for the store."""
        now = self._clock()
        written = self._written.get(peer)
        if written is not None and written[0] == ad.addrs and now - written[1] < self._refresh_s:
            return
        self._pending[peer] = (ad, raw, now)

    def flush(self) -> None:
        """Write every pending sighting in one transaction; a failed write keeps them for the next."""
        if not self._pending:
            return
        batch = [PeerSighting(peer, seen, raw, tuple(addrs_of(peer, ad.addrs)))  # never another peer's address
                 for peer, (ad, raw, seen) in self._pending.items()]
        try:
            self._store.upsert_peers(batch)
        except NodeError:  # a full disk or a closed store: ad intake goes on, the sightings wait
            log.exception("could not record the peers heard from")
            return
        for peer, (ad, _raw, seen) in self._pending.items():
            self._written[peer] = (ad.addrs, seen)
        self._pending.clear()
        self.writes += 1

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Flush every ``flush_s`` until cancelled, then once more."""
        task_status.started()
        try:
            while True:
                await trio.sleep(self._flush_s)
                self.flush()
        finally:
            self.flush()
