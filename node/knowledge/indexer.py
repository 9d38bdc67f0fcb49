"""Index a folder (or file) of text and Markdown documents into the node's corpus.

Incremental: a document whose bytes hash as before is not read into the embedder again;
a changed one is re-chunked and replaced; one that disappeared from an indexed folder
is dropped. Each document is committed on its own, so a run cut short (Ctrl-C, crash,
size limit) keeps everything finished before it, and the next run continues from there.
Files that are not text are skipped with a one-line reason each; the size limit stops
the run with ``CorpusTooLarge``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trio

from .chunking import chunk_text
from .errors import CorpusTooLarge, NotADocumentsDir
from .store import DocumentRow, KnowledgeStore

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
_SNIFF_BYTES = 8192
EMBED_BATCH = 32

EmbedMany = Callable[[Sequence[str]], Awaitable[np.ndarray]]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class IndexLimits:
    """How large a corpus may grow: chunk size, total bytes and chunks (a node's disk and
    embedding time are finite; indexing past them is refused, not truncated silently)."""

    chunk_chars: int = 800
    max_corpus_bytes: int = 32 * 2**20
    max_chunks: int = 20_000


@dataclass
class IndexReport:
    """What one indexing run did, file by file, for ``peermind docs add`` to print."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)
    chunks_embedded: int = 0

    def summary(self) -> str:
        """The counts in one line."""
        return (f"{len(self.added)} added, {len(self.updated)} updated, {self.unchanged} unchanged, "
                f"{len(self.removed)} removed, {len(self.skipped)} skipped; {self.chunks_embedded} chunks embedded")


def doc_id_for(path: Path) -> str:
    """Opaque, stable id of a document: a hash of its absolute path (the name stays home)."""
    return "d" + hashlib.sha256(str(path).encode()).hexdigest()[:15]


def read_text(path: Path) -> str:
    """The file as text; ``ValueError(reason)`` when it is not UTF-8 text, ``OSError`` when unreadable."""
    data = path.read_bytes()
    if b"\0" in data[:_SNIFF_BYTES]:
        raise ValueError("binary file (NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start})") from None


def _candidates(root: Path, report: IndexReport) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise NotADocumentsDir(f"{root} is not a directory or file")
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # hidden files and folders (.git, editors' swap files)
        if path.suffix.lower() in TEXT_SUFFIXES:
            found.append(path)
        else:
            report.skipped.append((str(path), f"not a text or Markdown file ({path.suffix or 'no suffix'})"))
    return found


def _absolute(path: Path) -> Path:
    """``path`` with ``~`` expanded and links resolved (file system calls: run in a worker thread)."""
    return path.expanduser().resolve()


async def index_path(store: KnowledgeStore, root: Path, embed_many: EmbedMany, *,
                     limits: IndexLimits = IndexLimits(), progress: Progress = lambda _m: None) -> IndexReport:
    """Bring the index up to date with ``root`` (a folder is synced: vanished files are dropped)."""
    root = await trio.to_thread.run_sync(_absolute, root)
    report = IndexReport()
    files = await trio.to_thread.run_sync(_candidates, root, report)
    is_dir = await trio.to_thread.run_sync(root.is_dir)
    for skipped, reason in report.skipped:
        progress(f"skipped {skipped}: {reason}")
    if is_dir:
        present = {str(p) for p in files}
        gone = [d for d in store.documents() if d.path.startswith(str(root) + "/") and d.path not in present]
        if gone:
            store.remove([d.doc_id for d in gone])
            report.removed = [d.path for d in gone]
            progress(f"removed {len(gone)} documents no longer in {root}")
    for n, path in enumerate(files, 1):
        await _index_file(store, path, embed_many, limits, report, progress, f"[{n}/{len(files)}]")
    progress(f"indexed {root}: {report.summary()}")
    return report


async def _index_file(store: KnowledgeStore, path: Path, embed_many: EmbedMany, limits: IndexLimits,
                      report: IndexReport, progress: Progress, step: str) -> None:
    try:
        text = await trio.to_thread.run_sync(read_text, path)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        report.skipped.append((str(path), reason))
        progress(f"skipped {path}: {reason}")
        return
    raw = text.encode("utf-8")
    sha = hashlib.sha256(raw).hexdigest()
    old = store.document_by_path(str(path))
    if old is not None and old.sha256 == sha:
        report.unchanged += 1
        return
    chunks = chunk_text(text, limits.chunk_chars)
    if not chunks:
        report.skipped.append((str(path), "empty (no text)"))
        progress(f"skipped {path}: empty (no text)")
        return
    total_bytes, total_chunks = store.totals()
    if old is not None:
        total_bytes, total_chunks = total_bytes - old.bytes, total_chunks - old.chunks
    if total_bytes + len(raw) > limits.max_corpus_bytes or total_chunks + len(chunks) > limits.max_chunks:
        raise CorpusTooLarge(
            f"stopped before {path}: the corpus would hold {total_bytes + len(raw)} bytes in "
            f"{total_chunks + len(chunks)} chunks, over the limit of {limits.max_corpus_bytes} bytes / "
            f"{limits.max_chunks} chunks (knowledge.max_corpus_bytes, knowledge.max_chunks); "
            f"{report.summary()} before it")
    vectors = []
    for start in range(0, len(chunks), EMBED_BATCH):
        vectors.append(np.asarray(await embed_many(chunks[start:start + EMBED_BATCH]), dtype=np.float32))
    doc = DocumentRow(doc_id_for(path), str(path), sha, len(raw), len(chunks), time.time())
    await trio.to_thread.run_sync(store.replace_document, doc, chunks, np.vstack(vectors))
    report.chunks_embedded += len(chunks)
    (report.updated if old is not None else report.added).append(str(path))
    progress(f"{step} {'updated' if old else 'indexed'} {path.name}: {len(chunks)} chunks")
