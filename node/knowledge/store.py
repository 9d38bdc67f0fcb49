"""The corpus index on disk: ``knowledge.db`` (SQLite, WAL) in the node's data directory.

One document is replaced in one transaction (its row and all its chunks), so an
interrupted indexing run leaves every document either fully indexed or untouched, and
a restart simply continues. ``generation`` goes up on every change, so a running node
sees what ``peermind docs add`` wrote from another process and reloads its matrix.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import KnowledgeError

DB_FILE = "knowledge.db"
DIMS = 384

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, path TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL, chunks INTEGER NOT NULL, added_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    doc_id TEXT NOT NULL, chunk_no INTEGER NOT NULL, text TEXT NOT NULL, embedding BLOB NOT NULL,
    PRIMARY KEY (doc_id, chunk_no));
"""


@dataclass(frozen=True)
class DocumentRow:
    """One indexed file: its id, path, content hash (to skip unchanged files) and size in chunks."""

    doc_id: str
    path: str
    sha256: str
    bytes: int
    chunks: int
    added_at: float


@dataclass(frozen=True)
class ChunkMatrix:
    """Every chunk's id and unit-norm embedding, row-aligned (what retrieval searches)."""

    ids: tuple[tuple[str, int], ...]
    vectors: np.ndarray  # (n, DIMS) float32
    generation: int


class KnowledgeStore:
    """The corpus index of one node's data directory; opened by the daemon and by ``peermind docs``."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / DB_FILE
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise KnowledgeError(f"cannot open the knowledge index {self.path}: {exc}") from exc

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    # ------------------------------------------------------------- reads
    def generation(self) -> int:
        """The change counter: a node reloads its matrix when this moved (another process indexed)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def documents(self) -> list[DocumentRow]:
        """Every indexed document, by path."""
        rows = self._db.execute(
            "SELECT doc_id, path, sha256, bytes, chunks, added_at FROM documents ORDER BY path").fetchall()
        return [DocumentRow(*r) for r in rows]

    def document_by_path(self, path: str) -> DocumentRow | None:
        """The document indexed from ``path``, if any (re-indexing compares its hash)."""
        row = self._db.execute(
            "SELECT doc_id, path, sha256, bytes, chunks, added_at FROM documents WHERE path = ?", (path,)).fetchone()
        return DocumentRow(*row) if row else None

    def totals(self) -> tuple[int, int]:
        """(bytes, chunks) of the whole corpus."""
        row = self._db.execute("SELECT COALESCE(SUM(bytes), 0), COALESCE(SUM(chunks), 0) FROM documents").fetchone()
        return int(row[0]), int(row[1])

    def matrix(self) -> ChunkMatrix:
        """Every chunk's embedding in one array, for retrieval by one matrix product."""
        generation = self.generation()
        rows = self._db.execute("SELECT doc_id, chunk_no, embedding FROM chunks ORDER BY doc_id, chunk_no").fetchall()
        if not rows:
            return ChunkMatrix((), np.zeros((0, DIMS), dtype=np.float32), generation)
        vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), DIMS)
        return ChunkMatrix(tuple((r[0], int(r[1])) for r in rows), vectors, generation)

    def chunk_texts(self, ids: Sequence[tuple[str, int]]) -> list[str]:
        """The texts of the retrieved chunks, in order ("" for one removed since the matrix was read)."""
        out = []
        for doc_id, chunk_no in ids:
            row = self._db.execute("SELECT text FROM chunks WHERE doc_id = ? AND chunk_no = ?",
                                   (doc_id, chunk_no)).fetchone()
            out.append(row[0] if row else "")
        return out

    # ------------------------------------------------------------- writes
    def replace_document(self, doc: DocumentRow, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store ``doc`` with its chunks, replacing any earlier version, in one transaction."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (len(texts), DIMS):
            raise KnowledgeError(f"expected {len(texts)} embeddings of {DIMS} dims, got {vectors.shape}")
        try:
            with self._transaction():
                self._delete(doc.doc_id)
                self._db.execute("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?)",
                                 (doc.doc_id, doc.path, doc.sha256, doc.bytes, doc.chunks, doc.added_at))
                self._db.executemany("INSERT INTO chunks VALUES (?, ?, ?, ?)",
                                     [(doc.doc_id, i, t, v.tobytes()) for i, (t, v) in enumerate(zip(texts, vectors, strict=True))])
        except sqlite3.Error as exc:
            raise KnowledgeError(f"could not write {doc.path} to the knowledge index: {exc}") from exc

    def remove(self, doc_ids: Sequence[str]) -> int:
        """Drop these documents and their chunks in one transaction; how many were asked for."""
        with self._transaction():
            for doc_id in doc_ids:
                self._delete(doc_id)
        return len(doc_ids)

    def _delete(self, doc_id: str) -> None:
        self._db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        self._db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, bumping ``generation``; ROLLBACK on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: type[BaseException] | None, *_rest: object) -> None:
        if exc_type is not None:
            self._db.execute("ROLLBACK")
            return
        self._db.execute(
            "INSERT INTO meta VALUES ('generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1")
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('updated_at', ?)", (str(time.time()),))
        self._db.execute("COMMIT")
