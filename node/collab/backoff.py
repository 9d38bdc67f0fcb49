"""Honouring peers' ``retry_after_ms``: a refusing peer is left alone until it said to come back.

A peer that refuses with ``busy``, ``rate_limited`` or ``untrusted`` tells us when it can take
work again. Asking it sooner only earns another refusal (and, past a rate limit's abuse tier,
flood evidence against us), so candidate selection skips it until then. The wait is capped so
that a peer with a long ban cool-down is still retried eventually.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["MAX_BACKOFF_S", "PeerBackoff"]

MAX_BACKOFF_S = 3600.0


class PeerBackoff:
    """When each refusing peer said it would take work again (monotonic seconds)."""

    def __init__(self, *, now: Callable[[], float] = time.monotonic, max_s: float = MAX_BACKOFF_S) -> None:
        self._now = now
        self._max_s = max_s
        self._until: dict[str, float] = {}

    def note(self, peer: str, retry_after_ms: int) -> None:
        """Remember a refusal's ``retry_after_ms`` (0 means "retry whenever": nothing to remember)."""
        if retry_after_ms <= 0:
            return
        until = self._now() + min(retry_after_ms / 1000, self._max_s)
        self._until[peer] = max(until, self._until.get(peer, 0.0))

    def waiting(self, peer: str) -> bool:
        """True while ``peer`` asked us to wait."""
        until = self._until.get(peer)
        if until is None:
            return False
        if self._now() >= until:
            del self._until[peer]
            return False
        return True

    def remaining_s(self, peer: str) -> float:
        """Seconds until ``peer`` may be asked again (0 when it is not backed off)."""
        return max(0.0, self._until.get(peer, 0.0) - self._now()) if self.waiting(peer) else 0.0
