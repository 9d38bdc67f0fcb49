"""The book's rows and evidence rows survive a real SQLite file unchanged.

trust/ never touches SQLite; this checks that what it returns is what the
node's store can write and read back (flat scalar columns only).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from _trustpeers import Clock, pid
from peermind.trust import Evidence, EvidenceRecord, ReputationBook, TrustParams

COLUMNS = (
    "peer", "as_of", "first_seen", "last_seen", "interactions", "banned_until", "ban_count",
    "positive", "negative", "counts", "recent",
)  # fmt: skip


def test_reputation_rows_round_trip_through_a_sqlite_file(tmp_path: Path) -> None:
    clock = Clock()
    book = ReputationBook(TrustParams(), now=clock)
    log = []
    for i, kind in enumerate([Evidence.TASK_OK, Evidence.TIMEOUT, Evidence.ANSWER_RIGHT] * 5):
        ev = EvidenceRecord(pid(f"p{i % 3}"), kind, at=clock.advance(10), detail=f"#{i}")
        book.record(ev)
        log.append(ev)
    for _ in range(3):
        book.record(
            EvidenceRecord(
                pid("forger"), Evidence.PROTOCOL_VIOLATION, at=clock.t, detail="bad_signature"
            )
        )

    path = tmp_path / "node.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE reputation ({', '.join(COLUMNS)}, PRIMARY KEY (peer))")
        db.executemany(
            f"INSERT INTO reputation VALUES ({', '.join(':' + c for c in COLUMNS)})",
            book.snapshot(),
        )
        db.execute("CREATE TABLE evidence (peer, kind, weight_override, at, detail)")
        db.executemany(
            "INSERT INTO evidence VALUES (:peer, :kind, :weight_override, :at, :detail)",
            [ev.to_row() for ev in log],
        )
    db.close()

    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM reputation")]
        evidence = [EvidenceRecord.from_row(dict(r)) for r in db.execute("SELECT * FROM evidence")]
    db.close()

    restored = ReputationBook(TrustParams(), now=clock)
    restored.load(rows)
    assert restored.snapshot() == book.snapshot()
    for peer in book.peers():
        assert restored.score(peer) == book.score(peer)
        assert restored.standing(peer) is book.standing(peer)
    assert restored.is_banned(pid("forger"))
    assert evidence == log
