"""The ``replay_floors`` table: each sender's highest accepted envelope timestamp.

Written about once a second by ``node/p2p/replay_floors.py``; read at start, so the
verifier refuses, after a restart, every envelope it could have accepted before.
"""

from __future__ import annotations

from .database import Database, require

__all__ = ["ReplayFloorTable"]


class ReplayFloorTable(Database):
    """Reads and writes of ``replay_floors`` (mixed into :class:`~peermind.node.store.Store`)."""

    def save_replay_highs(self, highs: dict[bytes, int]) -> None:
        """Raise each sender's stored high-water timestamp to the given one (never lower it)."""
        require(all(isinstance(k, bytes) and k for k in highs), "senders must be non-empty peer ID bytes")
        if highs:
            self._write(lambda c: c.executemany(
                """INSERT INTO replay_floors (sender, high_ms) VALUES (?, ?)
                   ON CONFLICT (sender) DO UPDATE SET high_ms = MAX(high_ms, excluded.high_ms)""",
                list(highs.items())))

    def replay_floors(self, since_ms: int) -> dict[bytes, int]:
        """Senders whose high-water timestamp is at or after ``since_ms`` (older ones are stale anyway)."""
        return {bytes(r[0]): int(r[1]) for r in self._read(
            "SELECT sender, high_ms FROM replay_floors WHERE high_ms >= ?", (since_ms,))}

    def prune_replay_floors(self, before_ms: int) -> int:
        """Forget senders last seen before ``before_ms``; returns how many."""
        cursor = self._write(lambda c: c.execute("DELETE FROM replay_floors WHERE high_ms < ?", (before_ms,)))
        return int(cursor.rowcount)
