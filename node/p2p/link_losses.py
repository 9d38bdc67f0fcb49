"""Telling a flapping link from a peer that is gone, so one lost connection does not drop an ad.

On a CPU-starved network a connection is lost now and then (a reset, a half-open stream
closed to redial) while the peer is alive: dropping its ad at once left it missing until
the next republish, the main gap in convergence at N = 20. But a peer cut off by a
flapping link (``testnet fault drop``: every connection killed within milliseconds)
still reconnects for a moment and delivers a fresh ad each time, so a plain grace kept
its ad forever. The rule: a peer's first lost connection in ``window_s`` keeps its ad while
this node re-dials it (a failed re-dial drops it); a second loss within the window drops
it at once, as does every loss while they keep coming.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["FLAP_WINDOW_S", "LinkLosses"]

FLAP_WINDOW_S = 30.0
"""Two losses within this many seconds make a link flapping: the ad goes at the second."""


class LinkLosses:
    """Recent lost connections per peer."""

    def __init__(self, window_s: float = FLAP_WINDOW_S, now: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._now = now
        self._losses: dict[str, deque[float]] = {}

    def lost(self, peer: str) -> bool:
        """Note a lost connection to ``peer``; True when the link is flapping (drop its ad now)."""
        at = self._now()
        losses = self._losses.setdefault(peer, deque())
        while losses and losses[0] < at - self.window_s:
            losses.popleft()
        losses.append(at)
        self._forget_quiet(at)
        return len(losses) > 1

    def _forget_quiet(self, at: float) -> None:
        """Bound the table: peers whose last loss left the window are forgotten."""
        if len(self._losses) > 256:
            for peer in [p for p, d in self._losses.items() if not d or d[-1] < at - self.window_s]:
                del self._losses[peer]
