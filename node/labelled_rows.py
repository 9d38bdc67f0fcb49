"""What a feedback row means: its source mode, its role, its split, its kind — one owner.

A feedback row (router training data; it never leaves the node) is written by several
subsystems: answers (collab), seeding, canaries and idle learning, verdicts from askers.
They used to pack the row's role ("vote:dissent"), seed split and task kind into the
``mode`` string, and two readers split train from validation by two different rules.
Now each label has its own column (old packed strings are unpacked by the store's
migrations), and ``held_out`` (applied by ``peermind.node.store.labelled_split``) is the
one train/validation rule that seeding, calibration and federated adoption all use.
"""

from __future__ import annotations

import hashlib

from peermind.federated import FeedbackRow

__all__ = [
    "DEFAULT_VALIDATION_FRACTION",
    "KINDS",
    "ROLES",
    "SEED_MODE",
    "SPLITS",
    "RowSplit",
    "held_out",
]

ROLES = ("answer", "dissent", "other")
"""answer: produced or agrees with the delivered answer; dissent: picked another choice of a
multiple-choice question (wrong whenever the answer is right); other: a different generated
text whose correctness a mark on the answer does not decide."""
SPLITS = ("train", "validation")
"""A row with no split is assigned one by ``held_out`` from a hash of its query id."""
KINDS = ("score", "generate")
"""The task the row's answer came from (``Job.kind``): scoring choices or generating text.
Calibration tunes a separate confidence threshold for each."""
SEED_MODE = "seed"
"""Mode of the rows a seed run writes (their split is the benchmark's)."""
DEFAULT_VALIDATION_FRACTION = 0.2

RowSplit = tuple[list[FeedbackRow], list[FeedbackRow]]


def held_out(query_id: str, split: str | None, fraction: float = DEFAULT_VALIDATION_FRACTION) -> bool:
    """The one train/validation rule: the row's own split, else a hash of its query id.

    Hashing the query id puts every model's outcome on one question on the same side (the
    router is validated on questions it never trained on), and gives the same answer on
    every call and after every restart.
    """
    if split in SPLITS:
        return split == "validation"
    digest = hashlib.sha256(b"peermind-router-split:" + query_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction
