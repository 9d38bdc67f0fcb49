"""What a feedback row means: its source mode, its role in the answer, its split — one owner.

A feedback row (router training data; it never leaves the node) is written by several
subsystems: answers (collab), seeding, canaries and idle learning, verdicts from askers.
They used to pack the row's role ("vote:dissent") and seed split ("seed:validation")
into the ``mode`` string, and two readers split train from validation by two different
rules. Now the store keeps ``role`` and ``split`` in their own columns, this module
decodes the old packed strings once (on write and in the migration), and
``held_out`` is the one train/validation rule that seeding, calibration and federated
adoption all use.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = [
    "DEFAULT_VALIDATION_FRACTION",
    "ROLES",
    "SPLITS",
    "RowLabels",
    "held_out",
    "labels_of",
]

ROLES = ("answer", "dissent", "other")
"""answer: produced or agrees with the delivered answer; dissent: picked another choice of a
multiple-choice question (wrong whenever the answer is right); other: a different generated
text whose correctness a mark on the answer does not decide."""
SPLITS = ("train", "validation")
"""A row with no split is assigned one by ``held_out`` from a hash of its query id."""
DEFAULT_VALIDATION_FRACTION = 0.2
_SEED_SPLITS = {"seed": "train", "seed:validation": "validation", "seed:generate": "validation"}


@dataclass(frozen=True)
class RowLabels:
    """A feedback row's mode, role and split, decoded once."""

    mode: str
    role: str = "answer"
    split: str | None = None


def labels_of(mode: str | None, role: str | None = None, split: str | None = None) -> RowLabels:
    """The row's labels; a packed legacy mode ("vote:dissent", "seed:validation") is decoded.

    Seed modes keep their name (seeding reads them back); their split comes from it.
    Explicit ``role`` / ``split`` arguments win over anything decoded.
    """
    text = mode or ""
    if text in _SEED_SPLITS:
        return RowLabels(text, role or "answer", split or _SEED_SPLITS[text])
    base, sep, tail = text.rpartition(":")
    if sep and tail in ROLES:
        return RowLabels(base, role or tail, split)
    return RowLabels(text, role or "answer", split)


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
