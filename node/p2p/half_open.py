"""Peers whose gossip runs one way only: they subscribed to our topic, our stream to them never opened.

py-libp2p 0.8.1 opens its pubsub stream to a new peer once, when the connection comes up; if
that negotiation times out (seconds on a CPU-starved process) it never tries again while the
connection lives. The peer's own stream still tells us its subscriptions, so it looks like a
subscribed neighbour, but everything we send it waits in a 100-message queue and is dropped
("pending message queue ... exceeded limit"): in a 50-node run one model node held 7 such
peers for the whole 5 minutes (670 overflows each), so its ads and the ads it relays never
reached them. Closing such a connection lets the next dial negotiate afresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from libp2p.peer.id import ID

HALF_OPEN_S = 15.0
"""How long a connected, subscribed peer may lack our stream before the connection is closed (normally < 1 s)."""


class HalfOpenPeers:
    """Tracks since when each connected, subscribed peer has had no outbound pubsub stream."""

    def __init__(self, after_s: float = HALF_OPEN_S, now: Callable[[], float] = time.monotonic) -> None:
        self._after_s = after_s
        self._now = now
        self._since: dict[ID, float] = {}

    def due(self, subscribed: Iterable[ID], streams: Iterable[ID], connected: Iterable[ID]) -> list[ID]:
        """Peers half-open for ``after_s`` or longer (forgotten here: the caller closes them)."""
        now = self._now()
        half_open = (set(subscribed) & set(connected)) - set(streams)
        self._since = {peer: self._since.get(peer, now) for peer in half_open}
        due = [peer for peer, since in self._since.items() if now - since >= self._after_s]
        for peer in due:
            del self._since[peer]
        return due
