"""When a change of this node's queue depth is worth a fresh ad.

A model node republished its ad whenever the depth its ad advertises changed, polled every
0.5 s: each task it served (a peer's probe, a neighbour's idle learning) meant two ads, one
at the start, one at the end, each flooded to every connected peer and forwarded over the
mesh to the whole network. In a 50-node testnet at rest the 5 model nodes' ads were ~20% of
the distinct ads a light node took in (8 of 43 in 10 s; one model node: 11 ads in 36 s at a
20 s period), while
the asking side already corrects a stale depth with its own requests in flight
(``collab/inflight.py``). A change is now announced once it has lasted until ``MIN_INTERVAL_S``
after the previous announcement: a task that starts and ends in between costs no ad, a
sustained queue shows within that time, and the periodic ad carries the depth anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable

MIN_INTERVAL_S = 5.0
"""Announcements of a changed queue depth are at least this far apart."""


class DepthNews:
    """Tells the load watcher when the advertised queue depth has changed enough to republish."""

    def __init__(self, depth: int, *, min_interval_s: float = MIN_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._announced = depth
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._at = clock() - min_interval_s  # the first change may go out at once

    def due(self, depth: int) -> bool:
        """True when ``depth`` differs from the last announced one and the interval has passed (then it is announced)."""
        now = self._clock()
        if depth == self._announced or now - self._at < self._min_interval_s:
            return False
        self._announced, self._at = depth, now
        return True
