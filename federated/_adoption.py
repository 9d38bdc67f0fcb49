"""Each node decides for itself whether a new global router is better for *its* queries."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ._router import RouterModel
from ._schema import FeedbackRow


def adopt_if_better(
    current: RouterModel,
    candidate: RouterModel,
    validation_rows: Sequence[FeedbackRow],
    margin: float = 0.01,
    *,
    min_rows: int = 1,
    adopt_unvalidated: bool = False,
) -> tuple[RouterModel, bool, dict[str, Any]]:
    """Return (router to use, adopted?, metrics).

    The candidate is adopted when its log loss on ``validation_rows`` is lower
    than the current router's by at least ``margin`` (log loss is the proper
    score for the probabilities the router exists to produce; the margin stops
    churn between near-equal routers). With fewer than ``min_rows`` usable rows
    there is no evidence either way: ``adopt_unvalidated`` decides (default
    keep). A candidate with a different schema raises IncompatibleWeights.
    """
    current.schema.require_equal(candidate.schema, what="candidate router")
    before = current.evaluate(validation_rows)
    after = candidate.evaluate(validation_rows)
    rows = int(after["rows"])
    metrics: dict[str, Any] = {
        "rows": rows,
        "margin": margin,
        "current": before,
        "candidate": after,
    }
    if rows < max(1, min_rows) or math.isnan(after["log_loss"]):
        adopted = adopt_unvalidated
        metrics["reason"] = f"only {rows} validation rows (< {max(1, min_rows)}): " + (
            "adopted without validation" if adopted else "kept the current router"
        )
    else:
        adopted = after["log_loss"] <= before["log_loss"] - margin
        metrics["reason"] = (
            f"log loss {before['log_loss']:.4f} -> {after['log_loss']:.4f} "
            f"({'adopted' if adopted else 'not better by'} margin {margin})"
        )
    return (candidate if adopted else current), adopted, metrics
