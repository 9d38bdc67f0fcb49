"""A node's feedback rows handed to its own SuperNode's ClientApp, through a private file.

Under the deployment engine the ClientApp runs in a process Flower spawns, so
it cannot read the node's store directly. The node writes its (train,
validation) rows to a file inside its own data directory, mode 0600, and
tells only its own SuperNode where it is (``--node-config data-path=...``).
The file never leaves the machine and is deleted when the run ends.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from peermind.federated import NPY_LOCK, FeedbackRow

from ..errors import TrainingError


def export_rows(path: Path, train: Sequence[FeedbackRow], validation: Sequence[FeedbackRow]) -> int:
    rows = [*train, *validation]
    dim = rows[0].embedding.shape[0] if rows else 0
    arrays = {
        "embedding": np.stack([r.embedding for r in rows]).astype(np.float32) if rows else np.zeros((0, dim), np.float32),
        "model_key": np.array([r.model_key for r in rows], dtype=np.str_),
        "correct": np.array([r.correct for r in rows], dtype=bool),
        "weight": np.array([r.weight for r in rows], dtype=np.float64),
        "query_id": np.array([r.query_id for r in rows], dtype=np.str_),
        "validation": np.array([False] * len(train) + [True] * len(validation), dtype=bool),
    }
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        np.savez(out, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)
    return len(rows)


def import_rows(path: str | Path) -> tuple[list[FeedbackRow], list[FeedbackRow]]:
    try:
        with NPY_LOCK, np.load(Path(path), allow_pickle=False) as data:
            emb, keys, correct = data["embedding"], data["model_key"], data["correct"]
            weight, query, held_out = data["weight"], data["query_id"], data["validation"]
    except (OSError, KeyError, ValueError) as exc:
        raise TrainingError(f"cannot read the exported rows {path}: {exc}") from exc
    train: list[FeedbackRow] = []
    validation: list[FeedbackRow] = []
    for i in range(len(keys)):
        row = FeedbackRow(emb[i], str(keys[i]), bool(correct[i]), float(weight[i]), str(query[i]))
        (validation if held_out[i] else train).append(row)
    return train, validation
