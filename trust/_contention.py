"""Whether unproven peers' work would take model time from anyone else here.

The newcomer pool's work budget protects this node's own user and its proven peers from
a flood of fresh identities. While none of them has wanted the model for a while, the
time unproven peers use is time that would otherwise idle: metering it then protects no
one, yet it held a fresh honest network (where every peer is unproven to the others for
its first minutes) to a trickle. So the budget applies only while the model is
*contended*: this node's user had a question in flight, or a proven peer's task was
admitted, within ``window_s``. The node's own background work (idle learning, canary
checks, speed measurements) is not contention: it runs whenever nothing else does, and an
idle node runs it all the time. Unproven work admitted while idle stays preemptible, so
the next contended task cuts it short at a token boundary, and from then on the budget holds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ._errors import InvalidInput

__all__ = ["CONTENDED_WINDOW_S", "ModelContention"]

CONTENDED_WINDOW_S = 30.0
"""After other work was last seen, unproven peers stay metered this long: an honest node asked
every few seconds stays contended between questions, and an attacker cannot slip a burst into
the gap between two of them."""


class ModelContention:
    """When someone other than unproven peers last wanted this node's model."""

    def __init__(self, *, window_s: float = CONTENDED_WINDOW_S, now: Callable[[], float] = time.monotonic) -> None:
        if not (math.isfinite(window_s) and window_s >= 0):
            raise InvalidInput(f"contention window must be a finite number of seconds >= 0, got {window_s!r}")
        self.window_s = window_s
        self._now = now
        self._last: float | None = None
        self.asking = 0
        """This node's user's questions in flight now."""

    def saw_other_work(self) -> None:
        """A proven peer's task was admitted (or a user question began or ended)."""
        self._last = self._now()

    @contextmanager
    def user_asking(self) -> Iterator[None]:
        """Around one of this node's user's questions: contended while it runs and a window after."""
        self.asking += 1
        self.saw_other_work()
        try:
            yield
        finally:
            self.asking -= 1
            self.saw_other_work()

    def contended(self) -> bool:
        """True while a user question is in flight, or other work was seen within ``window_s``."""
        if self.asking:
            return True
        return self._last is not None and self._now() - self._last <= self.window_s

    @property
    def idle_for_s(self) -> float | None:
        """Seconds since other work was last seen (None: never), for status."""
        return None if self._last is None else self._now() - self._last
