"""A banned flooder's turned-away streams are held unread for a while, then reset.

Resetting a banned peer's stream at once costs this node almost nothing, but tells the
flooder at once that it may open the next one: in ``bench trust`` a flooder that kept 20
streams a second coming (each negotiated, then reset) used 0.22 of a core on the shared
machine, and honest p95 rose 46%. Holding the stream costs this node a sleeping task and
the few hundred bytes the request brought; the flooder's own request waits on it, so a
flooder that bounds its requests in flight (any client does: memory, descriptors) opens
new streams at (its bound / ``hold_s``) per second instead of as fast as resets come back.
Only banned peers are held (an honest requester that asked a little early is reset at
once, so it fails over to another peer without waiting), and no more than ``per_peer``
streams of one peer or ``total`` in all: past either, the stream is reset at once as before.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

__all__ = ["HOLD_S", "Tarpit"]

HOLD_S = 15.0
"""Shorter than a requester's own timeout (a task's 20 s deadline in the bench's flooder), so the
reset, not the flooder's timer, ends the hold, and well under a ban's cool-down."""
PER_PEER = 32
TOTAL = 512


class Tarpit:
    """Holds turned-away streams of banned peers, within per-peer and total caps."""

    def __init__(self, is_banned: Callable[[str], bool], *, hold_s: float = HOLD_S,
                 per_peer: int = PER_PEER, total: int = TOTAL, on_hold: Callable[[], None] = lambda: None) -> None:
        """``on_hold`` counts each stream held (the node's refusal counter ``untrusted_held``)."""
        self._is_banned = is_banned
        self._on_hold = on_hold
        self.hold_s = hold_s
        self.per_peer = per_peer
        self.total = total
        self._held: dict[str, int] = {}
        self.held_total = 0
        self.streams_held = 0
        """Streams held so far (for status and tests)."""

    async def hold(self, peer: str) -> None:
        """Return after ``hold_s`` for a banned peer's stream within the caps, at once otherwise."""
        held = self._held.get(peer, 0)
        if held >= self.per_peer or self.held_total >= self.total or not self._is_banned(peer):
            return
        self._held[peer] = held + 1
        self.held_total += 1
        self.streams_held += 1
        self._on_hold()
        try:
            await trio.sleep(self.hold_s)
        finally:
            self.held_total -= 1
            left = self._held[peer] - 1
            if left:
                self._held[peer] = left
            else:
                del self._held[peer]
