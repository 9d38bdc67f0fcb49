"""Adopt a new global router only if it is not worse on *this* node's own queries.

After a run, the coordinator pushes the final weights to every participant in
a signed ``query.adopt`` message; each node (the coordinator too) validates
them on its own validation rows with ``peermind.federated.adopt_if_better``
and keeps its current router when the new one is worse by more than
``training.adopt_tolerance`` (log loss). The decision, with both losses, is
recorded in ``training_rounds`` (role ``adoption``).

Edge cases, chosen deliberately:
* no current router at all -> the candidate is compared with an untrained
  router (p = 0.5 everywhere), and adopted without validation rows, since
  something trained beats nothing;
* a current router for another schema (a model was added) -> same as above;
* a current router and no validation rows -> keep the current one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict
from peermind.federated import (
    FeatureSchema,
    FeedbackRow,
    RouterModel,
    adopt_if_better,
    array_to_numpy,
)

from .errors import TrainingError

ROUTER_RECORD = "router"
INFO_RECORD = "info"
ADOPT_ACTION = "adopt"
ADOPT_MESSAGE_TYPE = f"query.{ADOPT_ACTION}"


@dataclass(frozen=True, slots=True)
class AdoptionDecision:
    """What a node decided about a candidate router, and why."""

    adopted: bool
    reason: str
    rows: int
    current_log_loss: float
    candidate_log_loss: float
    current_choice_accuracy: float
    candidate_choice_accuracy: float

    def to_json(self) -> dict[str, object]:
        def clean(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 6)

        return {
            "adopted": self.adopted,
            "reason": self.reason,
            "rows": self.rows,
            "current_log_loss": clean(self.current_log_loss),
            "candidate_log_loss": clean(self.candidate_log_loss),
            "current_choice_accuracy": clean(self.current_choice_accuracy),
            "candidate_choice_accuracy": clean(self.candidate_choice_accuracy),
        }


def decide(
    current: RouterModel | None,
    candidate: RouterModel,
    validation: Sequence[FeedbackRow],
    tolerance: float,
) -> AdoptionDecision:
    """Apply the policy above; pure (no I/O), so it is unit-tested directly."""
    comparable = current is not None and current.schema == candidate.schema
    baseline = current if comparable and current is not None else RouterModel(candidate.schema)
    _, adopted, metrics = adopt_if_better(
        baseline,
        candidate,
        validation,
        margin=-tolerance,
        adopt_unvalidated=not comparable,
    )
    reason = str(metrics["reason"])
    if not comparable:
        reason = ("no current router for this schema; " if current is None else
                  "the current router has another schema; ") + reason
    before, after = metrics["current"], metrics["candidate"]
    return AdoptionDecision(
        adopted=adopted,
        reason=reason,
        rows=int(metrics["rows"]),
        current_log_loss=float(before["log_loss"]),
        candidate_log_loss=float(after["log_loss"]),
        current_choice_accuracy=float(before["choice_accuracy"]),
        candidate_choice_accuracy=float(after["choice_accuracy"]),
    )


# --- the query.adopt message ---------------------------------------------------------


def adopt_content(model: RouterModel, info: dict[str, str | int | float]) -> RecordDict:
    """The content of a ``query.adopt`` instruction: weights, schema and run facts."""
    weights, bias = model.to_arrays()
    schema = model.schema
    config = ConfigRecord(
        {
            "schema-version": schema.version,
            "embed-dim": schema.embed_dim,
            "model-keys": list(schema.model_keys),
            **info,
        }
    )
    return RecordDict(
        {
            ROUTER_RECORD: ArrayRecord({"weights": Array(weights), "bias": Array(bias)}),
            INFO_RECORD: config,
        }
    )


def router_from_adopt(msg: Message) -> tuple[RouterModel, dict[str, object]]:
    """Decode a ``query.adopt`` instruction; TrainingError when it is not one of ours."""
    try:
        arrays = msg.content.array_records[ROUTER_RECORD]
        config = msg.content.config_records[INFO_RECORD]
        keys = config["model-keys"]
        schema = FeatureSchema(
            version=int(config["schema-version"]),  # type: ignore[arg-type]
            embed_dim=int(config["embed-dim"]),  # type: ignore[arg-type]
            model_keys=tuple(str(k) for k in keys),  # type: ignore[union-attr]
        )
        model = RouterModel(
            schema, np.asarray(array_to_numpy(arrays["weights"])), np.asarray(array_to_numpy(arrays["bias"]))
        )
    except Exception as exc:  # any malformed content: one typed error
        raise TrainingError(f"malformed adopt message: {type(exc).__name__}: {exc}") from exc
    return model, dict(config)


DecisionSink = Callable[[RouterModel, AdoptionDecision, dict[str, object]], None]
