"""Task outcomes on ``/peermind/outcome/1.0.0``: "your answer to my task was right/wrong".

An asker that learns whether a peer's answer was correct (a seed item's ground truth,
a user's ``peermind feedback``) tells that peer, so the peer records a labelled
training row of its own (its own embedding of the question, its own model). The
notice is one-way: the receiver sends no reply frame and only accepts entries for
tasks it served to that same sender recently (see SPEC.md section 9.6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

from ._fields import TaskId
from ._schema import Limits, Message

OUTCOME_PROTOCOL_ID = "/peermind/outcome/1.0.0"
"""Stream protocol carrying ``task.outcome`` notices (one frame, no reply)."""

MAX_OUTCOMES = 256
"""Entries per notice: a seed run flushes in batches of at most this many per peer."""

OUTCOME_SPLITS = ("train", "validation")


@dataclass(frozen=True, kw_only=True)
class OutcomeEntry(Message):
    """The verdict on one served task."""

    task_id: TaskId
    """The ``task_id`` of the ``task.request`` the receiver answered."""
    correct: bool
    split: Annotated[str, Limits(one_of=OUTCOME_SPLITS)] = "train"
    """``validation``: the asker holds this item out (the receiver may calibrate on it)."""


@dataclass(frozen=True, kw_only=True)
class TaskOutcome(Message):
    """Verdicts on tasks the recipient served to the sender."""

    TYPE: ClassVar[str] = "task.outcome"

    outcomes: Annotated[list[OutcomeEntry], Limits(min_items=1, max_items=MAX_OUTCOMES)]
