"""Fixed train / validation / test split by a salted hash of each item's id.

Membership depends only on the id, so it never changes when a limit, the pool
or the order of loading changes: 50% router-train, 20% validation, 30% test.
The test split is for final reports only, never for training or tuning.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal, get_args

from ._errors import InvalidArgument
from ._items import Item

Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = get_args(Split)
SPLIT_SALT = "peermind-bench-split-v1"
SPLIT_FRACTIONS: dict[Split, float] = {"train": 0.5, "validation": 0.2, "test": 0.3}


def _digest(item_id: str) -> bytes:
    return hashlib.sha256(f"{SPLIT_SALT}|{item_id}".encode()).digest()


def split_of(item_id: str) -> Split:
    """The split an id belongs to (uniform position in [0, 1) from its salted hash)."""
    position = int.from_bytes(_digest(item_id)[:8], "big") / 2**64
    if position < SPLIT_FRACTIONS["train"]:
        return "train"
    if position < SPLIT_FRACTIONS["train"] + SPLIT_FRACTIONS["validation"]:
        return "validation"
    return "test"


def check_split(split: str) -> Split:
    if split not in SPLITS:
        raise InvalidArgument(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    return split  # type: ignore[return-value]


def select_split(items: Iterable[Item], split: str, limit: int | None = None) -> list[Item]:
    """The items of ``split`` in a stable order (by hash, so any prefix is a fair sample)."""
    wanted = check_split(split)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InvalidArgument(f"limit must be a non-negative integer or None, got {limit!r}")
    chosen = sorted((item for item in items if split_of(item.id) == wanted), key=lambda item: _digest(item.id))
    return chosen if limit is None else chosen[:limit]
