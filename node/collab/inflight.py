"""This node's own requests in flight, per peer: load it knows before any ad says so.

A peer's ad carries its queue depth, but ads are republished at most every half second
and travel by gossip, so a burst of concurrent questions would all go to the peer that
looked idle a moment ago. The Collaborator counts the requests it has sent to each peer
and not yet got back; a candidate's queue depth is never taken as less than that count
(not added to it: the peer's ad already includes our requests once it catches up).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

from .candidates import Candidate


class InFlight:
    """Requests this node has outstanding, per peer id (this node's own work included)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def count(self, peer_id: str) -> int:
        """Requests to ``peer_id`` sent and not yet answered."""
        return self._counts.get(peer_id, 0)

    @contextmanager
    def track(self, peer_id: str) -> Iterator[None]:
        """Count one request to ``peer_id`` for as long as the block runs."""
        self._counts[peer_id] = self._counts.get(peer_id, 0) + 1
        try:
            yield
        finally:
            left = self._counts[peer_id] - 1
            if left:
                self._counts[peer_id] = left
            else:
                del self._counts[peer_id]

    def apply(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        """``candidates`` with each queue depth raised to this node's requests in flight there."""
        out = []
        for c in candidates:
            mine = self._counts.get(c.peer_id, 0)
            out.append(replace(c, queue_depth=mine) if mine > c.queue_depth and not c.is_local else c)
        return out
