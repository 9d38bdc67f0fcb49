"""Turn feedback rows into the dense arrays the router's math works on."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ._errors import InvalidFeedback
from ._schema import FeatureSchema, FeedbackRow


@dataclass(frozen=True, slots=True)
class RowBatch:
    """Rows whose model has a head in the schema, stacked column-wise.

    ``skipped`` counts rows for models the schema does not know: they are
    ignored rather than rejected, because a node may have served a model that
    the federation's router does not (yet) cover.
    """

    x: np.ndarray  # (n, d) float32
    head: np.ndarray  # (n,) int64 index into schema.model_keys
    y: np.ndarray  # (n,) float64 in {0, 1}
    w: np.ndarray  # (n,) float64 row weights
    query_ids: tuple[str, ...]
    skipped: int

    @property
    def size(self) -> int:
        return int(self.y.shape[0])


def stack_rows(rows: Iterable[FeedbackRow], schema: FeatureSchema) -> RowBatch:
    """Stack ``rows`` for ``schema``; raise InvalidFeedback on a wrong embedding width."""
    xs: list[np.ndarray] = []
    heads: list[int] = []
    ys: list[float] = []
    ws: list[float] = []
    qids: list[str] = []
    skipped = 0
    for i, row in enumerate(rows):
        if not isinstance(row, FeedbackRow):
            raise InvalidFeedback(f"row {i} is a {type(row).__name__}, expected FeedbackRow")
        if row.embedding.shape != (schema.embed_dim,):
            raise InvalidFeedback(
                f"row {i} has an embedding of shape {row.embedding.shape}; "
                f"the router expects ({schema.embed_dim},)"
            )
        head = schema.index(row.model_key)
        if head is None:
            skipped += 1
            continue
        xs.append(row.embedding)
        heads.append(head)
        ys.append(1.0 if row.correct else 0.0)
        ws.append(row.weight)
        qids.append(row.query_id)
    if xs:
        x = np.stack(xs).astype(np.float32, copy=False)
    else:
        x = np.zeros((0, schema.embed_dim), dtype=np.float32)
    return RowBatch(
        x=x,
        head=np.asarray(heads, dtype=np.int64),
        y=np.asarray(ys, dtype=np.float64),
        w=np.asarray(ws, dtype=np.float64),
        query_ids=tuple(qids),
        skipped=skipped,
    )
