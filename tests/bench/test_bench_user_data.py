"""User JSONL files: the documented format, and a precise error for each bad line."""

from __future__ import annotations

from pathlib import Path

import pytest
from peermind.bench import DataFormatError, Item, load_items, load_jsonl, select_split


def write(tmp_path: Path, *lines: str, name: str = "mine.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_happy_path_mixes_kinds_skips_blank_lines_and_keeps_ids(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '{"query": "2 + 2 = ?", "choices": ["3", "4"], "gold": 1}',
        "",
        "   ",
        '{"id": "q7", "query": "What is 6 x 7?", "answer": 42}',
        '{"query": "Price?", "answer": "$1,250.50"}',
        '{"id": 9, "query": "Half of one?", "answer": "0.5"}',
    )
    items = load_jsonl(path)
    assert items == [
        Item("mine/1", "mine", "2 + 2 = ?", ("3", "4"), 1, None, "mc"),
        Item("mine/q7", "mine", "What is 6 x 7?", None, None, "42", "numeric"),
        Item("mine/5", "mine", "Price?", None, None, "1250.5", "numeric"),
        Item("mine/9", "mine", "Half of one?", None, None, "0.5", "numeric"),
    ]
    assert load_jsonl(path, dataset="custom")[0].id == "custom/1"
    # User items split the same way as the built-in ones.
    assert sorted(i.id for s in ("train", "validation", "test") for i in select_split(items, s)) == sorted(
        i.id for i in items
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a", "b"]', "expected a JSON object"),
        ('{"choices": ["a", "b"], "gold": 0}', 'missing "query"'),
        ('{"query": "  ", "answer": 1}', 'missing "query"'),
        ('{"query": "q", "choices": ["a", "b"], "gold": 2}', "out of range"),
        ('{"query": "q", "choices": ["a", "b"], "gold": -1}', "out of range"),
        ('{"query": "q", "choices": ["a", "b"], "gold": "1"}', "integer index"),
        ('{"query": "q", "choices": ["a", "b"], "gold": true}', "integer index"),
        ('{"query": "q", "choices": ["a", "b"]}', 'missing "gold"'),
        ('{"query": "q", "choices": ["a", "b"], "gold": 0, "answer": 3}', "found both"),
        ('{"query": "q"}', "found neither"),
        ('{"query": "q", "choices": ["only"], "gold": 0}', "at least two"),
        ('{"query": "q", "choices": "ab", "gold": 0}', "at least two"),
        ('{"query": "q", "choices": ["a", ""], "gold": 0}', "non-empty strings"),
        ('{"query": "q", "answer": "Paris"}', "must be a number"),
        ('{"query": "q", "answer": null}', "must be a number"),
        ('{"query": "q", "answer": 3, "gold": 0}', "belongs to multiple choice"),
        ('{"query": "q", "choises": ["a", "b"], "gold": 0}', "unknown field"),
        ('{"id": "", "query": "q", "answer": 1}', '"id"'),
    ],
)
def test_each_bad_line_names_file_line_and_problem(tmp_path: Path, line: str, message: str) -> None:
    path = write(tmp_path, '{"query": "fine", "answer": 1}', "", line)
    with pytest.raises(DataFormatError) as caught:
        load_jsonl(path)
    error = caught.value
    assert error.line == 3 and error.path == path
    assert message in str(error) and f"{path}:3:" in str(error)


def test_duplicate_ids_empty_missing_and_binary_files(tmp_path: Path) -> None:
    dup = write(tmp_path, '{"id": "a", "query": "q", "answer": 1}', '{"id": "a", "query": "r", "answer": 2}')
    with pytest.raises(DataFormatError, match=r"duplicate id 'mine/a' \(first on line 1\)"):
        load_jsonl(dup)
    with pytest.raises(DataFormatError, match="no items"):
        load_jsonl(write(tmp_path, "", "  ", name="empty.jsonl"))
    with pytest.raises(DataFormatError, match="file not found"):
        load_jsonl(tmp_path / "absent.jsonl")
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataFormatError, match="UTF-8"):
        load_jsonl(binary)


def test_user_items_do_not_disturb_builtin_splits(tmp_path: Path) -> None:
    before = load_items("sst2", "validation", limit=5)
    load_jsonl(write(tmp_path, '{"query": "q", "answer": 1}'))
    assert load_items("sst2", "validation", limit=5) == before


def test_seed_file_keeps_multiple_choice_items_with_their_split(tmp_path: Path) -> None:
    from peermind.bench import load_seed_jsonl, split_of

    path = write(
        tmp_path,
        '{"id": "a", "query": "2 + 2 = ?", "choices": ["3", "4"], "gold": 1, "split": "validation"}',
        '{"id": "b", "query": "Sky colour?", "choices": ["blue", "green"], "gold": 0, "split": "train"}',
        '{"id": "c", "query": "Ice is?", "choices": ["hot", "cold"], "gold": 1}',
    )
    pairs = load_seed_jsonl(path)
    assert [(split, item.id) for split, item in pairs][:2] == [("validation", "mine/a"), ("train", "mine/b")]
    default = "validation" if split_of("mine/c") == "validation" else "train"
    assert pairs[2] == (default, Item("mine/c", "mine", "Ice is?", ("hot", "cold"), 1, None, "mc"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"query": "q", "answer": 3}', "seed items are multiple choice"),
        ('{"query": "q", "choices": ["a", "b"], "gold": 0, "split": "test"}', '"split" must be one of'),
        ('{"query": "q", "choices": ["a", "b"], "gold": 5}', "out of range"),
        ("{oops", "not valid JSON"),
    ],
)
def test_bad_seed_lines_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    from peermind.bench import load_seed_jsonl

    path = write(tmp_path, '{"query": "fine", "choices": ["a", "b"], "gold": 0}', "", line)
    with pytest.raises(DataFormatError, match=message) as caught:
        load_seed_jsonl(path)
    assert caught.value.line == 3 and f"{path}:3:" in str(caught.value)
