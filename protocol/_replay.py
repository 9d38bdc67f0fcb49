"""Bounded memory of recently accepted (sender, nonce) pairs.

Only envelopes inside the clock-skew window can be accepted at all, so a
nonce needs remembering only while its envelope's timestamp is inside the
window; older replays are caught as stale. Memory is bounded twice: by age
(entries whose timestamp left the window are dropped) and by capacity
(oldest arrivals are evicted first, trading replay protection under a
flood for bounded memory).
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

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, key: tuple[bytes, bytes]) -> bool:
        return key in self._seen

    def add(self, key: tuple[bytes, bytes], timestamp_ms: int, now_ms: int) -> bool:
        """Record ``key``; return False if it was already present (a replay)."""
        self._expire(now_ms)
        seen = self._seen
        if key in seen:
            return False
        seen[key] = timestamp_ms
        if len(seen) > self._capacity:
            seen.popitem(last=False)
        return True

    def _expire(self, now_ms: int) -> None:
        """Drop arrivals from the front while their envelope timestamp is out of the window.

        Arrival order is only roughly timestamp order, so an expired entry
        behind a fresher one waits until it reaches the front; capacity
        still bounds memory meanwhile.
        """
        seen = self._seen
        horizon = now_ms - self._window_ms
        while seen:
            key, ts = next(iter(seen.items()))
            if ts >= horizon:
                break
            del seen[key]
