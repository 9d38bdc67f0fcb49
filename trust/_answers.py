"""Comparing short free-text answers (shared by canaries and cross-checks)."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["answers_match", "normalise_answer"]

_NON_WORD = re.compile(r"[^\w]+")


def normalise_answer(text: str) -> str:
    """NFKC, casefold, punctuation and underscores to spaces, collapsed whitespace.

    Articles are kept: stripping a leading "a" would eat option letters.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _NON_WORD.sub(" ", text).replace("_", " ")
    return " ".join(text.split())


def answers_match(a: str, b: str) -> bool:
    """Two peers' answers say the same thing (equal after normalisation)."""
    return normalise_answer(a) == normalise_answer(b)
