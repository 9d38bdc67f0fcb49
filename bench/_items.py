"""The benchmark item and how a model is asked about it.

An ``Item`` holds the question as a person would read it (``query``) and its
ground truth. The prompt helpers turn it into the text a language model scores
or continues, so every caller phrases a question the same way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from ._errors import InvalidArgument

Kind = Literal["mc", "numeric"]

# Stop sequences for generating an answer to ``numeric_prompt``: a base model
# otherwise goes on to invent the next "Question:".
NUMERIC_STOP: tuple[str, ...] = ("Question:", "\n\n")

_CUE_LINE = re.compile(r"^[A-Za-z]+:$")  # "Answer:", "Sentiment:", "A:"
_QUESTION_LINE = re.compile(r"^Question:", re.MULTILINE)
# Optional sign (only when not glued to a preceding word/number, so "10-2" is 2),
# optional "$", then 1,234,567.89 or 1234.5 or .5
_NUMBER = re.compile(
    r"(?:(?<![\w)])(?P<sign>[-\u2212])\s*)?\$?\s*"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
)


@dataclass(frozen=True, slots=True)
class Item:
    """One question with its ground truth.

    ``gold`` is set for multiple choice ("mc"), ``answer`` (a number written as
    a string, no thousands separators) for short numeric answers ("numeric").
    """

    id: str
    dataset: str
    query: str
    choices: tuple[str, ...] | None
    gold: int | None
    answer: str | None
    kind: Kind

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the cache and result files use it)."""
        return {
            "id": self.id,
            "dataset": self.dataset,
            "query": self.query,
            "choices": list(self.choices) if self.choices is not None else None,
            "gold": self.gold,
            "answer": self.answer,
            "kind": self.kind,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Item:
        """Inverse of ``to_json``; raises KeyError/TypeError on a malformed dict."""
        choices = data["choices"]
        return cls(
            id=str(data["id"]),
            dataset=str(data["dataset"]),
            query=str(data["query"]),
            choices=tuple(str(c) for c in choices) if choices is not None else None,
            gold=int(data["gold"]) if data["gold"] is not None else None,
            answer=str(data["answer"]) if data["answer"] is not None else None,
            kind=data["kind"],
        )


def mc_context(item: Item) -> str:
    """The prompt whose continuations are the choices (zero-shot, OLMES "rc" style).

    A query that already ends with a cue line ("...\\nSentiment:") is used as is;
    one that already has a "Question:" line (BoolQ: passage + question) gets only
    "\\nAnswer:"; anything else becomes "Question: {query}\\nAnswer:".
    """
    query = item.query.rstrip()
    last_line = query.rsplit("\n", 1)[-1].strip()
    if _CUE_LINE.match(last_line):
        return query
    if _QUESTION_LINE.search(query):
        return f"{query}\nAnswer:"
    return f"Question: {query}\nAnswer:"


def mc_continuations(item: Item) -> list[str]:
    """Each choice with a leading space, to be scored after ``mc_context(item)``."""
    if item.choices is None:
        raise InvalidArgument(f"{item.id} is a {item.kind} item and has no choices")
    return [" " + choice.strip() for choice in item.choices]


def numeric_prompt(item: Item, *, step_by_step: bool = True) -> str:
    """A zero-shot prompt for a numeric question.

    ``step_by_step=True`` (default) invites a worked solution, "Question: ...\\nAnswer:
    Let's think step by step."; grade the generation (stopped at NUMERIC_STOP) with
    ``parse_number``, which takes the last number, where worked solutions put the
    result. ``step_by_step=False`` asks for the number directly ("... Answer: The
    answer is"), cheaper for small models that ramble.
    """
    question = item.query.strip()
    if step_by_step:
        return f"Question: {question}\nAnswer: Let's think step by step."
    return f"Question: {question}\nAnswer: The answer is"


def parse_number(text: str) -> float | None:
    """The last number in ``text`` ("$1,234.50" -> 1234.5, "-3" -> -3.0), or None."""
    matches = list(_NUMBER.finditer(text))
    if not matches:
        return None
    last = matches[-1]
    value = float(last.group("num").replace(",", ""))
    return -value if last.group("sign") else value


def numeric_correct(item: Item, text: str) -> bool:
    """Whether the last number in a generated ``text`` equals the item's answer."""
    if item.answer is None:
        raise InvalidArgument(f"{item.id} is a {item.kind} item and has no numeric answer")
    got = parse_number(text)
    if got is None:
        return False
    want = float(item.answer)
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-6)
