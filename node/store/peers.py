"""The ``peers`` table: every peer this node has seen, with its last ad and addresses."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from .database import Database, now_or, require

__all__ = ["PeerRecord", "PeerSighting", "PeerTable"]


@dataclass(frozen=True)
class PeerRecord:
    """A peer this node has seen; ``last_ad`` is the encoded ad exactly as received."""

    peer_id: str
    first_seen: float
    last_seen: float
    last_ad: bytes | None
    addrs: tuple[str, ...]


@dataclass(frozen=True)
class PeerSighting:
    """A peer heard from at ``seen_at``, with its ad as received and the addresses naming it."""

    peer_id: str
    seen_at: float
    ad: bytes | None
    addrs: tuple[str, ...]


_UPSERT_SQL = """INSERT INTO peers (peer_id, first_seen, last_seen, last_ad, addrs)
                  VALUES (?, ?, ?, ?, COALESCE(?, '[]'))
                  ON CONFLICT (peer_id) DO UPDATE SET
                    last_seen = MAX(last_seen, excluded.last_seen),
                    first_seen = MIN(first_seen, excluded.first_seen),
                    last_ad = COALESCE(?, last_ad),
                    addrs = COALESCE(?, addrs)"""


def _upsert_params(peer_id: str, seen_at: float, ad: bytes | None,
                   addrs: Sequence[str] | None) -> tuple[str, float, float, bytes | None, str | None, bytes | None, str | None]:
    """``_UPSERT_SQL``'s parameters: ``ad``/``addrs`` None keep the stored ones."""
    addrs_json = None if addrs is None else json.dumps(list(addrs))
    return (peer_id, seen_at, seen_at, ad, addrs_json, ad, addrs_json)


class PeerTable(Database):
    """Reads and writes of ``peers`` (mixed into :class:`~peermind.node.store.Store`)."""

    def upsert_peer(
        self,
        peer_id: str,
        *,
        seen_at: float | None = None,
        ad: bytes | None = None,
        addrs: Sequence[str] | None = None,
    ) -> None:
        """Record that ``peer_id`` was seen; ``ad``/``addrs`` replace the stored ones when given."""
        require(bool(peer_id), "peer_id must not be empty")
        now = now_or(seen_at)
        self._write(lambda c: c.execute(_UPSERT_SQL, _upsert_params(peer_id, now, ad, addrs)))

    def upsert_peers(self, records: Sequence[PeerSighting]) -> None:
        """``upsert_peer`` for many peers in one transaction (the ad intake's coalesced writes)."""
        for r in records:
            require(bool(r.peer_id), "peer_id must not be empty")
        rows = [_upsert_params(r.peer_id, r.seen_at, r.ad, r.addrs) for r in records]
        self._write(lambda c: c.executemany(_UPSERT_SQL, rows))

    def list_peers(self, *, since: float | None = None) -> list[PeerRecord]:
        """Known peers, most recently seen first; only those seen at or after ``since`` if given."""
        rows = self._read(
            "SELECT peer_id, first_seen, last_seen, last_ad, addrs FROM peers "
            "WHERE last_seen >= ? ORDER BY last_seen DESC",
            (-1e300 if since is None else since,),
        )
        return [PeerRecord(r[0], r[1], r[2], r[3], tuple(json.loads(r[4]))) for r in rows]
