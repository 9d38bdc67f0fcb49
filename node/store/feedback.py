"""The ``feedback`` table: router training data (labelled rows; it never leaves the node).

Which values ``role``, ``split`` and ``kind`` may hold is node/labelled_rows.py's rule
(rows that packed them into ``mode`` were unpacked by a migration); this module only
stores the rows.
Reading all rows for a training round is a larger read: call it through
``trio.to_thread.run_sync``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from peermind.federated import FeedbackRow

from ..errors import StoreError
from ..labelled_rows import KINDS, ROLES, SPLITS, RowSplit, held_out
from .database import Database, now_or, require, row_limit

__all__ = ["FeedbackRecord", "FeedbackTable", "labelled_split"]


@dataclass(frozen=True)
class FeedbackRecord:
    """One router training example: the query's embedding and how a peer/model did on it."""

    id: int
    task_id: str | None
    query_embedding: np.ndarray  # float32, 1-D
    query_id: str | None
    peer: str | None
    model_key: str | None
    mode: str | None
    correct: bool | None
    cost: float | None
    latency_ms: float | None
    confidence: float | None
    created_at: float
    role: str = "answer"  # answer | dissent | other (node/labelled_rows.py)
    split: str | None = None  # train | validation | None: by hash of the query id
    kind: str | None = None  # score | generate (the job's kind) | None: not recorded

    @property
    def query_key(self) -> str:
        """The question the row is about: its query id, else its task id, else the row itself."""
        return self.query_id or self.task_id or f"row-{self.id}"


class FeedbackTable(Database):
    """Reads and writes of ``feedback`` (mixed into :class:`~peermind.node.store.Store`)."""

    def add_feedback(
        self,
        *,
        query_embedding: np.ndarray | Sequence[float] | bytes,
        task_id: str | None = None,
        query_id: str | None = None,
        peer: str | None = None,
        model_key: str | None = None,
        mode: str | None = None,
        correct: bool | None = None,
        cost: float | None = None,
        latency_ms: float | None = None,
        confidence: float | None = None,
        created_at: float | None = None,
        role: str = "answer",
        split: str | None = None,
        kind: str | None = None,
    ) -> int:
        """Store one training example; the embedding is kept as little-endian float32 bytes."""
        blob = _embedding_bytes(query_embedding)
        require(role in ROLES, f"role must be one of {ROLES}, got {role!r}")
        require(split is None or split in SPLITS, f"split must be one of {SPLITS} or None, got {split!r}")
        require(kind is None or kind in KINDS, f"kind must be one of {KINDS} or None, got {kind!r}")
        values = (
            task_id, blob, query_id, peer, model_key, mode, _bool_or_none(correct),
            cost, latency_ms, confidence, now_or(created_at), role, split, kind,
        )  # fmt: skip
        return self._insert(
            "INSERT INTO feedback (task_id, query_embedding, query_id, peer, model_key, mode, "
            "correct, cost, latency_ms, confidence, created_at, role, split, kind) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )

    def mark_feedback(self, feedback_id: int, correct: bool | None) -> bool:
        """Set (or clear) whether an answer was correct, once the node learns it."""
        cursor = self._write(
            lambda c: c.execute(
                "UPDATE feedback SET correct = ? WHERE id = ?",
                (_bool_or_none(correct), feedback_id),
            )
        )
        return cursor.rowcount == 1

    def feedback_rows(self, limit: int | None = None) -> list[FeedbackRecord]:
        """Training examples, newest first (all of them unless ``limit``)."""
        return self._feedback_where("1", -1 if limit is None else row_limit(limit))

    def count_labelled_feedback(self) -> int:
        """How many rows have a verdict: a cheap check before re-reading them."""
        return int(self._read("SELECT COUNT(*) FROM feedback WHERE correct IS NOT NULL", ())[0][0])

    def labelled_feedback_rows(self) -> list[FeedbackRecord]:
        """Rows with a verdict (right or wrong), newest first: the router's labelled memory."""
        return self._feedback_where("correct IS NOT NULL", -1)

    def _feedback_where(self, condition: str, limit: int) -> list[FeedbackRecord]:
        rows = self._read(
            "SELECT id, task_id, query_embedding, query_id, peer, model_key, mode, correct, "
            f"cost, latency_ms, confidence, created_at, role, split, kind FROM feedback WHERE {condition} "
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [
            FeedbackRecord(
                r[0], r[1], np.frombuffer(r[2], dtype="<f4"), r[3], r[4], r[5], r[6],
                None if r[7] is None else bool(r[7]), r[8], r[9], r[10], r[11], r[12], r[13], r[14],
            )  # fmt: skip
            for r in rows
        ]


def labelled_split(records: Iterable[FeedbackRecord], fraction: float, embed_dim: int) -> RowSplit:
    """Rows with a verdict as (train, validation) router rows: the one split that seeding,
    calibration and federated adoption all use (``peermind.node.labelled_rows.held_out``).

    Rows without a verdict, without a model key or with an embedding of the wrong width
    (or not finite) are skipped: they carry no label or cannot be fed to the router.
    """
    train: list[FeedbackRow] = []
    validation: list[FeedbackRow] = []
    for record in records:
        emb = record.query_embedding
        if record.correct is None or not record.model_key or emb.shape != (embed_dim,):
            continue
        if not np.all(np.isfinite(emb)):
            continue
        row = FeedbackRow(emb, record.model_key, record.correct, 1.0, record.query_key)
        (validation if held_out(record.query_key, record.split, fraction) else train).append(row)
    return train, validation


def _bool_or_none(value: bool | None) -> int | None:
    return None if value is None else int(bool(value))


def _embedding_bytes(value: np.ndarray | Sequence[float] | bytes) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        require(
            len(data) % 4 == 0 and len(data) > 0,
            "query_embedding bytes must be float32 (4 bytes each)",
        )
        return data
    try:
        array = np.asarray(value, dtype="<f4").ravel()
    except (TypeError, ValueError) as exc:
        raise StoreError(f"query_embedding must be a vector of numbers: {exc}") from exc
    require(array.size > 0, "query_embedding must not be empty")
    require(bool(np.isfinite(array).all()), "query_embedding must contain only finite numbers")
    return array.tobytes()
