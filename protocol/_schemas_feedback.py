"""Feedback records: the asker's local verdict on one answered task.

Stored by the asking node and used as training data for the router and as
evidence for trust; a schema too, so it can be exported and exchanged
with the same validation as wire messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

from ._fields import EpochMs, Label, ModelName, NonNegFloat, PeerText, TaskId
from ._schema import Limits, Message


@dataclass(frozen=True, kw_only=True)
class FeedbackRecord(Message):
    """Outcome of one task served by ``peer``."""

    TYPE: ClassVar[str] = "feedback.record"

    task_id: TaskId
    peer: PeerText
    mode: Label
    """Collaboration policy that produced the answer (route, cascade, vote, moa...)."""
    correct: Annotated[int, Limits(one_of=(-1, 0, 1))]
    """1 correct, 0 wrong, -1 unknown."""
    cost: NonNegFloat = 0.0
    latency_ms: NonNegFloat = 0.0
    confidence: Annotated[float, Limits(ge=-1e12, le=1e12)] = 0.0
    model: ModelName = ""
    created_ms: EpochMs = 0
