"""This node's feedback rows as router training data, split train/validation by query.

Split by ``peermind.node.store.labelled_split``, the one rule calibration uses too:
seed rows keep their benchmark split (the row's ``split`` column); every other row is
split by a hash of its query id, so all outcomes of one query land
on the same side (the router is validated on queries it never trained on) and
a node gets the same split on every call and after every restart. Rows without a verdict
(``correct`` unknown), without a model key or with an embedding of the wrong
width are skipped: they carry no label or cannot be fed to the router.
"""

from __future__ import annotations

from collections.abc import Iterable

from peermind.federated import EMBED_DIM, FeedbackRow

from ..labelled_rows import RowSplit, held_out
from ..store import FeedbackRecord, Store, labelled_split


def is_validation(query_id: str, fraction: float) -> bool:
    """Deterministic query-level split for a row without one of its own (``held_out``'s hash)."""
    return held_out(query_id, None, fraction)


def split_records(
    records: Iterable[FeedbackRecord], fraction: float, *, embed_dim: int = EMBED_DIM
) -> RowSplit:
    """Labelled, well-formed records as (train, validation) FeedbackRows (``labelled_split``)."""
    return labelled_split(records, fraction, embed_dim)


def load_rows(store: Store, fraction: float, *, embed_dim: int = EMBED_DIM) -> RowSplit:
    """(train, validation) rows from ``store`` (blocking SQLite read: call it off the trio loop)."""
    return split_records(store.feedback_rows(), fraction, embed_dim=embed_dim)


def model_keys(rows: Iterable[FeedbackRow]) -> list[str]:
    """The models these rows have outcomes for, sorted (a stable head order)."""
    return sorted({row.model_key for row in rows})
