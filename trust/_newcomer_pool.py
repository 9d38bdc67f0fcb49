"""One allowance shared by every unproven identity, beside each peer's own.

Per-peer allowances bound what one identity costs; they do not bound a thousand of
them, since each fresh key brings a fresh newcomer bucket. The pool caps all unproven
peers together, whatever their number: at most ``rate`` requests per second (burst
``burst``) and at most ``concurrent`` of their tasks running or queued at once. A Sybil
flood therefore takes at most the share of a node that one trusted peer may take, and
proven peers never wait on it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from ._errors import InvalidInput

__all__ = ["NewcomerPool", "PoolRefusal"]


@dataclass(frozen=True)
class PoolRefusal:
    """Why the pool turned a request away, and when to try again."""

    detail: str
    retry_after_s: float


class NewcomerPool:
    """A token bucket and a concurrency cap shared by all unproven peers."""

    def __init__(self, *, rate: float, burst: float, concurrent: int,
                 now: Callable[[], float] = time.monotonic) -> None:
        if not (math.isfinite(rate) and rate > 0 and burst >= 1 and concurrent >= 1):
            raise InvalidInput(f"newcomer pool needs rate > 0, burst >= 1, concurrent >= 1; got {rate}, {burst}, {concurrent}")
        self.rate = rate
        self.burst = burst
        self.concurrent = concurrent
        self._now = now
        self._tokens = burst
        self._at = now()
        self.running = 0
        self.refused = 0

    def acquire(self) -> PoolRefusal | None:
        """Take one request and one running slot; None when admitted (pair with ``release``)."""
        now = self._now()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self.running >= self.concurrent:
            self.refused += 1
            return PoolRefusal(f"unproven peers together already run {self.running} tasks here "
                               f"(limit {self.concurrent})", 1.0)
        if self._tokens < 1:
            self.refused += 1
            return PoolRefusal(f"unproven peers together are over {self.rate:g} requests/s here",
                               (1 - self._tokens) / self.rate)
        self._tokens -= 1
        self.running += 1
        return None

    def release(self) -> None:
        self.running = max(0, self.running - 1)
