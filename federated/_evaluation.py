"""Router quality metrics: calibration (log loss), accuracy, and routing choice accuracy."""

from __future__ import annotations

import numpy as np

from ._rows import RowBatch


def choice_accuracy(p_all: np.ndarray, batch: RowBatch, n_models: int) -> tuple[float, int]:
    """(fraction of fully-observed queries whose argmax-p model was right, their count).

    A query counts only when every model has an outcome for it; with several
    rows for the same (query, model) the last one wins.
    """
    outcomes: dict[str, dict[int, tuple[int, bool]]] = {}
    for i, qid in enumerate(batch.query_ids):
        if qid:
            outcomes.setdefault(qid, {})[int(batch.head[i])] = (i, bool(batch.y[i] > 0.5))
    correct = total = 0
    for per_model in outcomes.values():
        if len(per_model) != n_models:
            continue
        any_row = next(iter(per_model.values()))[0]
        chosen = int(np.argmax(p_all[any_row]))
        total += 1
        correct += int(per_model[chosen][1])
    return (correct / total if total else float("nan")), total


def evaluate_predictions(
    *,
    p: np.ndarray,
    p_all: np.ndarray,
    batch: RowBatch,
    log_loss: float,
    n_models: int,
) -> dict[str, float]:
    """Assemble the metrics dict that RouterModel.evaluate returns."""
    if batch.size and batch.w.sum() > 0:
        hits = ((p >= 0.5) == (batch.y > 0.5)).astype(np.float64)
        accuracy = float(np.sum(hits * batch.w) / np.sum(batch.w))
    else:
        accuracy = float("nan")
    choice, queries = choice_accuracy(p_all, batch, n_models) if batch.size else (float("nan"), 0)
    return {
        "log_loss": log_loss,
        "accuracy": accuracy,
        "choice_accuracy": choice,
        "choice_queries": float(queries),
        "rows": float(batch.size),
    }
