"""Read a user's own benchmark file (JSONL) into Items, with line-precise errors.

One JSON object per line; blank lines are skipped:

    {"query": "2 + 2 = ?", "choices": ["3", "4"], "gold": 1}      multiple choice
    {"query": "What is 6 x 7?", "answer": 42}                     short numeric answer
    {"id": "q17", ...}                                            optional stable id

Short answers must be numbers (graded by ``parse_number``); phrase a text
answer as multiple choice instead.

Seed files (``peermind router seed --data FILE.jsonl``) use the multiple-choice lines
only, and may say which split an item trains: ``"split": "train" | "validation"``
(default: validation for the ids the fixed split rule puts there, train for the rest).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from ._errors import DataFormatError
from ._items import Item
from ._splits import split_of

_ALLOWED = ("id", "query", "choices", "gold", "answer")
SEED_SPLITS = ("train", "validation")
_NUMBER_ONLY = re.compile(r"\s*-?\$?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)\s*")


def _number_text(value: Any) -> str | None:
    """The canonical text of a numeric answer (42, "42", "-1,000", "$3.50"), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and _NUMBER_ONLY.fullmatch(value):
        number = float(value.strip().replace("$", "").replace(",", ""))
    else:
        return None
    if not math.isfinite(number):
        return None
    return str(int(number)) if number.is_integer() else repr(number)


def _item_from_record(record: Any, dataset: str, line: int, path: Path) -> Item:
    def bad(reason: str) -> DataFormatError:
        return DataFormatError(path, line, reason)

    if not isinstance(record, dict):
        raise bad(f"expected a JSON object, got {type(record).__name__}")
    unknown = sorted(set(record) - set(_ALLOWED))
    if unknown:
        raise bad(f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(_ALLOWED)}")
    query = record.get("query")
    if not isinstance(query, str) or not query.strip():
        raise bad('missing "query" (a non-empty string)')
    raw_id = record.get("id", line)
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or str(raw_id).strip() == "":
        raise bad('"id" must be a non-empty string or an integer')
    item_id = f"{dataset}/{raw_id}"
    has_choices, has_answer = "choices" in record, "answer" in record
    if has_choices == has_answer:
        which = "both" if has_choices else "neither"
        raise bad(f'give exactly one of "choices" (multiple choice) or "answer" (short answer); found {which}')
    if has_answer:
        if "gold" in record:
            raise bad('"gold" belongs to multiple choice; a short-answer line has only "answer"')
        answer = _number_text(record["answer"])
        if answer is None:
            raise bad(f'"answer" must be a number, got {record["answer"]!r}; phrase text answers as multiple choice')
        return Item(item_id, dataset, query.strip(), None, None, answer, "numeric")
    choices = record["choices"]
    if not isinstance(choices, list) or len(choices) < 2:
        raise bad('"choices" must be a list of at least two strings')
    if not all(isinstance(c, str) and c.strip() for c in choices):
        raise bad('"choices" must contain only non-empty strings')
    if "gold" not in record:
        raise bad('missing "gold" (the 0-based index of the correct choice)')
    gold = record["gold"]
    if isinstance(gold, bool) or not isinstance(gold, int):
        raise bad(f'"gold" must be an integer index, got {gold!r}')
    if not 0 <= gold < len(choices):
        raise bad(f'"gold" {gold} is out of range for {len(choices)} choices (0..{len(choices) - 1})')
    return Item(item_id, dataset, query.strip(), tuple(c.strip() for c in choices), gold, None, "mc")


def _records(path: Path) -> list[tuple[int, Any]]:
    """(line number, parsed JSON value) of every non-blank line; DataFormatError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFormatError(path, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataFormatError(path, None, f"cannot read ({exc.strerror})") from None
    records: list[tuple[int, Any]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((line_no, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DataFormatError(path, line_no, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not records:
        raise DataFormatError(path, None, "no items (the file is empty or only blank lines)")
    return records


def _unique(items: list[tuple[int, Item]], path: Path) -> list[Item]:
    seen: dict[str, int] = {}
    for line_no, item in items:
        if item.id in seen:
            raise DataFormatError(path, line_no, f"duplicate id {item.id!r} (first on line {seen[item.id]})")
        seen[item.id] = line_no
    return [item for _, item in items]


def load_jsonl(path: str | Path, dataset: str | None = None) -> list[Item]:
    """Items from a user JSONL file; ``dataset`` defaults to the file's stem.

    Raises DataFormatError naming the file, the line and what is wrong.
    """
    path = Path(path)
    name = dataset or path.stem
    return _unique([(n, _item_from_record(r, name, n, path)) for n, r in _records(path)], path)


def seed_item(record: Any, dataset: str, line: int, path: Path) -> tuple[str, Item]:
    """(split, item) of one seed line: a multiple-choice item, with an optional ``split``."""
    split = None
    if isinstance(record, dict) and "split" in record:
        record = dict(record)
        split = record.pop("split")
        if split not in SEED_SPLITS:
            raise DataFormatError(path, line, f'"split" must be one of {", ".join(SEED_SPLITS)}, got {split!r}')
    item = _item_from_record(record, dataset, line, path)
    if item.kind != "mc":
        raise DataFormatError(path, line, 'seed items are multiple choice: give "choices" and "gold" (the answer index)')
    if split is None:
        split = "validation" if split_of(item.id) == "validation" else "train"
    return split, item


def seed_items(records: list[tuple[int, Any]], dataset: str, path: Path) -> list[tuple[str, Item]]:
    """(split, item) pairs of numbered seed records (a file's lines, or a request's items)."""
    pairs = [(n, seed_item(r, dataset, n, path)) for n, r in records]
    _unique([(n, item) for n, (_, item) in pairs], path)
    return [pair for _, pair in pairs]


def load_seed_jsonl(path: str | Path, dataset: str | None = None) -> list[tuple[str, Item]]:
    """(split, item) pairs from a user's seed file; DataFormatError naming the line."""
    path = Path(path)
    return seed_items(_records(path), dataset or path.stem, path)
