"""Read a user's own benchmark file (JSONL) into Items, with line-precise errors.

One JSON object per line; blank lines are skipped:

    {"query": "2 + 2 = ?", "choices": ["3", "4"], "gold": 1}      multiple choice
    {"query": "What is 6 x 7?", "answer": 42}                     short numeric answer
    {"id": "q17", ...}                                            optional stable id

Short answers must be numbers (graded by ``parse_number``); phrase a text
answer as multiple choice instead.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from ._errors import DataFormatError
from ._items import Item

_ALLOWED = ("id", "query", "choices", "gold", "answer")
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


def load_jsonl(path: str | Path, dataset: str | None = None) -> list[Item]:
    """Items from a user JSONL file; ``dataset`` defaults to the file's stem.

    Raises DataFormatError naming the file, the line and what is wrong.
    """
    path = Path(path)
    name = dataset or path.stem
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFormatError(path, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataFormatError(path, None, f"cannot read ({exc.strerror})") from None
    items: list[Item] = []
    seen: dict[str, int] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(path, line_no, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        item = _item_from_record(record, name, line_no, path)
        if item.id in seen:
            raise DataFormatError(path, line_no, f"duplicate id {item.id!r} (first on line {seen[item.id]})")
        seen[item.id] = line_no
        items.append(item)
    if not items:
        raise DataFormatError(path, None, "no items (the file is empty or only blank lines)")
    return items
