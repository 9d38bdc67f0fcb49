"""This node's feedback rows as router training data, split train/validation by query.

Seed rows built from benchmark splits keep their split (``mode`` "seed" trains,
"seed:validation" validates, as the collaboration package writes them); every
other row is split by a hash of its query id, so all outcomes of one query land
on the same side (the router is validated on queries it never trained on) and
a node gets the same split on every call and after every restart. Rows without a verdict
(``correct`` unknown), without a model key or with an embedding of the wrong
width are skipped: they carry no label or cannot be fed to the router.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
from peermind.federated import EMBED_DIM, FeedbackRow

from ..collab.router_state import SEED_MODE, VALIDATION_MODE
from ..store import FeedbackRecord, Store

RowSplit = tuple[list[FeedbackRow], list[FeedbackRow]]


def is_validation(query_id: str, fraction: float) -> bool:
    """Deterministic query-level split: the first 8 bytes of sha256 as a position in [0, 1)."""
    digest = hashlib.sha256(b"peermind-router-split:" + query_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def _query_key(record: FeedbackRecord) -> str:
    return record.query_id or record.task_id or f"row-{record.id}"


def _usable(record: FeedbackRecord, embed_dim: int) -> bool:
    emb = record.query_embedding
    return (
        record.correct is not None
        and bool(record.model_key)
        and emb.shape == (embed_dim,)
        and bool(np.all(np.isfinite(emb)))
    )


def split_records(
    records: Iterable[FeedbackRecord], fraction: float, *, embed_dim: int = EMBED_DIM
) -> RowSplit:
    """Labelled, well-formed records as (train, validation) FeedbackRows."""
    train: list[FeedbackRow] = []
    validation: list[FeedbackRow] = []
    for record in records:
        if not _usable(record, embed_dim):
            continue
        query = _query_key(record)
        row = FeedbackRow(record.query_embedding, str(record.model_key), bool(record.correct), 1.0, query)
        if record.mode == VALIDATION_MODE:
            held_out = True
        elif record.mode == SEED_MODE:
            held_out = False
        else:
            held_out = is_validation(query, fraction)
        (validation if held_out else train).append(row)
    return train, validation


def load_rows(store: Store, fraction: float, *, embed_dim: int = EMBED_DIM) -> RowSplit:
    """(train, validation) rows from ``store`` (blocking SQLite read: call it off the trio loop)."""
    return split_records(store.feedback_rows(), fraction, embed_dim=embed_dim)


def model_keys(rows: Iterable[FeedbackRow]) -> list[str]:
    """The models these rows have outcomes for, sorted (a stable head order)."""
    return sorted({row.model_key for row in rows})
