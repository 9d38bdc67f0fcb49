"""The ``evidence`` table: observations about peers' behaviour, the trust ledger's input."""

from __future__ import annotations

from dataclasses import dataclass

from .database import Database, SqlValue, now_or, require

__all__ = ["EvidenceRecord", "EvidenceTable"]


@dataclass(frozen=True)
class EvidenceRecord:
    """One observation about a peer's behaviour, for the trust module."""

    id: int
    peer: str
    kind: str
    weight: float
    detail: str
    at: float


class EvidenceTable(Database):
    """Reads and writes of ``evidence`` (mixed into :class:`~peermind.node.store.Store`)."""

    def add_evidence(
        self,
        *,
        peer: str,
        kind: str,
        weight: float = 1.0,
        detail: str = "",
        at: float | None = None,
    ) -> int:
        """Record one observation about ``peer`` (timeout, refusal, bad signature, ...)."""
        require(bool(peer), "peer must not be empty")
        require(bool(kind), "kind must not be empty")
        return self._insert(
            "INSERT INTO evidence (peer, kind, weight, detail, at) VALUES (?, ?, ?, ?, ?)",
            (peer, kind, float(weight), detail, now_or(at)),
        )

    def evidence_rows(
        self, peer: str | None = None, since: float | None = None
    ) -> list[EvidenceRecord]:
        """Evidence, oldest first (the order decayed scoring consumes it in)."""
        clauses: list[str] = []
        params: list[SqlValue] = []
        if peer is not None:
            clauses.append("peer = ?")
            params.append(peer)
        if since is not None:
            clauses.append("at >= ?")
            params.append(since)
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        rows = self._read(
            f"SELECT id, peer, kind, weight, detail, at FROM evidence {where}ORDER BY at, id",
            tuple(params),
        )
        return [EvidenceRecord(*r) for r in rows]
