"""Replay protection that survives a restart: each sender's highest accepted timestamp, persisted.

The verifier's replay cache lives in memory; a restarted node would accept again every
envelope captured before it stopped and still inside the clock-skew window. So the node
stores, about once a second, the highest accepted timestamp per sender, and at start
hands the recent ones back as floors (``Verifier.restore_replay_floor``): anything a
sender signed at or before its floor is refused. A crash loses at most the last
``FLUSH_S`` of highs; a clean stop writes them all.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import trio
from peermind.protocol import Verifier

log = logging.getLogger("peermind.node.replay")

__all__ = ["FLUSH_S", "FloorStore", "ReplayFloors"]

FLUSH_S = 1.0


class FloorStore(Protocol):
    """The node store's ``replay_floors`` table (``node/store/replay_floors.py``)."""

    def save_replay_highs(self, highs: dict[bytes, int]) -> None:
        """Raise each sender's stored high-water timestamp (never lower it)."""

    def replay_floors(self, since_ms: int) -> dict[bytes, int]:
        """Senders whose high-water timestamp is at or after ``since_ms``."""

    def prune_replay_floors(self, before_ms: int) -> int:
        """Forget senders last seen before ``before_ms``; how many."""


class ReplayFloors:
    """Restores a verifier's floors at start and persists its highs while the node runs."""

    def __init__(self, store: FloorStore, verifier: Verifier, *, window_ms: int) -> None:
        self._store = store
        self._verifier = verifier
        self._window_ms = window_ms

    def restore(self, now_ms: int | None = None) -> int:
        """Floors of the senders heard within the window before now; returns how many."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        horizon = now - self._window_ms
        self._store.prune_replay_floors(horizon)
        floors = self._store.replay_floors(horizon)
        for sender, high in floors.items():
            self._verifier.restore_replay_floor(sender, high)
        self._verifier.take_replay_highs()  # start tracking what this run accepts
        return len(floors)

    def flush(self) -> None:
        """Persist the highs the verifier accepted since the last flush."""
        highs = self._verifier.take_replay_highs()
        if highs:
            self._store.save_replay_highs(highs)

    async def run(self) -> None:
        """Flush every FLUSH_S until cancelled, then once more (the store call is synchronous)."""
        try:
            while True:
                await trio.sleep(FLUSH_S)
                try:
                    self.flush()
                except Exception:  # a full disk must not stop the node; replay protection is in memory
                    log.exception("could not persist replay floors")
        finally:
            try:
                self.flush()
            except Exception:
                log.exception("could not persist replay floors at stop")
