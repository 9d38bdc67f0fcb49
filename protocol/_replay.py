"""Bounded memory of recently accepted (sender, nonce) pairs, that a flood cannot wipe.

Only envelopes inside the clock-skew window can be accepted at all, so a
nonce needs remembering only while its envelope's timestamp is inside the
window; older replays are caught as stale. Memory is bounded twice: by age
(entries whose timestamp left the window are dropped) and by capacity
(oldest arrivals are evicted first).

Eviction cannot open a replay hole: an evicted entry raises its sender's
*floor* to its timestamp, and anything from that sender at or below its floor
is refused. A flood therefore costs honest senders nothing but the (rare)
message older than one of their own evicted ones. Floors also carry replay
protection across a restart: the node persists each sender's highest accepted
timestamp (``take_highs``) and hands them back at start (``restore_floor``).
Floors are bounded too: past ``capacity`` senders the oldest floor folds into
one global floor.
"""

from __future__ import annotations

from collections import OrderedDict


class ReplayCache:
    """Remembers (sender, nonce) pairs for ``window_ms`` or up to ``capacity`` entries."""

    def __init__(self, *, window_ms: int, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("replay capacity must be >= 1")
        self._window_ms = window_ms
        self._capacity = capacity
        self._seen: OrderedDict[tuple[bytes, bytes], int] = OrderedDict()
        self._floors: OrderedDict[bytes, int] = OrderedDict()
        self._global_floor = -(2**63)
        self._highs: dict[bytes, int] | None = None  # tracked once someone persists them
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, key: tuple[bytes, bytes]) -> bool:
        return key in self._seen

    def floor(self, sender: bytes) -> int:
        """Timestamps at or below this are refused from ``sender`` (evicted or before a restart)."""
        return max(self._floors.get(sender, self._global_floor), self._global_floor)

    def add(self, key: tuple[bytes, bytes], timestamp_ms: int, now_ms: int) -> bool:
        """Record ``key``; return False if it was already present or is at or below its sender's floor."""
        self._expire(now_ms)
        seen = self._seen
        sender = key[0]
        if key in seen or timestamp_ms <= self.floor(sender):
            return False
        seen[key] = timestamp_ms
        highs = self._highs
        if highs is not None and timestamp_ms > highs.get(sender, -(2**63)) and (
                sender in highs or len(highs) < self._capacity):
            highs[sender] = timestamp_ms
        if len(seen) > self._capacity:
            (old_sender, _nonce), old_ts = seen.popitem(last=False)
            self.evicted += 1
            self.restore_floor(old_sender, old_ts)
        return True

    def restore_floor(self, sender: bytes, timestamp_ms: int) -> None:
        """Refuse anything from ``sender`` at or below ``timestamp_ms`` from now on."""
        floors = self._floors
        if timestamp_ms <= floors.get(sender, self._global_floor):
            return
        floors[sender] = timestamp_ms
        floors.move_to_end(sender)
        if len(floors) > self._capacity:
            _dropped, ts = floors.popitem(last=False)
            self._global_floor = max(self._global_floor, ts)

    def take_highs(self) -> dict[bytes, int]:
        """Highest accepted timestamp per sender since the last call (what a node persists).

        The first call starts the tracking; between calls at most ``capacity`` senders are kept.
        """
        highs, self._highs = self._highs or {}, {}
        return highs

    def _expire(self, now_ms: int) -> None:
        """Drop arrivals from the front while their envelope timestamp is out of the window.

        Arrival order is only roughly timestamp order, so an expired entry
        behind a fresher one waits until it reaches the front; capacity
        still bounds memory meanwhile. Floors below the window are dropped
        too: the stale check refuses those timestamps anyway.
        """
        seen = self._seen
        horizon = now_ms - self._window_ms
        while seen:
            key, ts = next(iter(seen.items()))
            if ts >= horizon:
                break
            del seen[key]
        floors = self._floors
        while floors:
            sender, ts = next(iter(floors.items()))
            if ts >= horizon:
                break
            del floors[sender]
