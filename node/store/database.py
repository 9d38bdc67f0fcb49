"""The connection to the node's SQLite file: open, configure, migrate, and short transactions.

Why SQLite in WAL mode with ``synchronous=NORMAL``: every committed row
survives a crash of the process (``kill -9``), readers never block the writer
and vice versa, and commits cost no fsync. Each write is one short
transaction, so nothing holds the write lock for long. A lock makes one
connection safe to share between trio and worker threads.

The schema is versioned with ``PRAGMA user_version`` and the ordered list in
``migrations.py``; a database from a newer peermind is refused rather than
guessed at. The tables' own reads and writes live in the sibling modules.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

from ..errors import StoreError, StoreFull, StoreVersionError
from .migrations import MIGRATIONS, SCHEMA_VERSION, TABLES

__all__ = ["DB_FILENAME", "Database", "SqlRow", "SqlValue", "now_or", "require", "row_limit"]

DB_FILENAME = "node.db"
_BUSY_TIMEOUT_MS = 5000
_T = TypeVar("_T")
# What sqlite3 binds and returns for our columns.
SqlValue = str | int | float | bytes | None
# A fetched row: its columns' types are known only to the SELECT that read it.
SqlRow = tuple[Any, ...]


class Database:
    """A node's SQLite connection. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        """Use :meth:`open`; this wraps an already configured and migrated connection."""
        self._conn: sqlite3.Connection | None = conn
        self._lock = threading.RLock()
        self.path = path

    @classmethod
    def open(cls, path: Path, *, max_db_bytes: int | None = None) -> Self:
        """Open (creating and migrating if needed) the database at ``path``.

        ``max_db_bytes`` caps the file size: writes beyond it fail with
        :class:`StoreFull`, exactly as on a full disk.
        """
        path = Path(path)
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            conn = sqlite3.connect(
                path,
                timeout=_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # guarded by the lock instead
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the node database {path}: {exc}") from exc
        try:
            _configure(conn, path, max_db_bytes)
            _migrate(conn, path)
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    def close(self) -> None:
        """Close the database; later calls raise :class:`StoreError`. Idempotent."""
        with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                try:
                    conn.execute("PRAGMA optimize")
                except sqlite3.Error:
                    pass  # best effort; closing must not fail
                conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def counts(self) -> dict[str, int]:
        """Rows per table, for ``/status``."""
        sql = " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM {t}" for t in TABLES)
        return {name: n for name, n in self._read(sql, ())}

    # -- for the table modules

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the node database {self.path} is closed")
        return self._conn

    def _read(self, sql: str, params: Sequence[SqlValue]) -> list[SqlRow]:
        with self._lock:
            try:
                rows: list[SqlRow] = self._connection().execute(sql, params).fetchall()
                return rows
            except sqlite3.Error as exc:
                raise _translate(exc, self.path, "read") from exc

    def _write(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` in one short IMMEDIATE transaction; roll back on any failure."""
        with self._lock:
            try:
                return _transaction(self._connection(), work)
            except sqlite3.Error as exc:
                raise _translate(exc, self.path, "write") from exc

    def _insert(self, sql: str, params: Sequence[SqlValue]) -> int:
        cursor = self._write(lambda c: c.execute(sql, params))
        return int(cursor.lastrowid or 0)


def require(ok: bool, message: str) -> None:
    """Refuse bad input with a :class:`StoreError` before it reaches SQL."""
    if not ok:
        raise StoreError(message)


def now_or(at: float | None) -> float:
    """A row's time: the one given, or now."""
    return time.time() if at is None else float(at)


def row_limit(limit: int) -> int:
    """A checked ``LIMIT`` (an int >= 0)."""
    require(isinstance(limit, int) and limit >= 0, f"limit must be an int >= 0, not {limit!r}")
    return limit


def _configure(conn: sqlite3.Connection, path: Path, max_db_bytes: int | None) -> None:
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if max_db_bytes is not None:
            page_size = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {max(1, int(max_db_bytes) // page_size)}")
    except sqlite3.Error as exc:
        raise _translate(exc, path, "open") from exc
    if str(mode).lower() != "wal":
        raise StoreError(
            f"{path}: SQLite could not switch to WAL mode (got {mode!r}); "
            "put the data dir on a local file system"
        )


def _transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], _T]) -> _T:
    """Run ``work`` between BEGIN IMMEDIATE and COMMIT; roll back on any failure."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    def upgrade(c: sqlite3.Connection) -> None:
        # Read the version under the write lock: another process may be migrating.
        version = c.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreVersionError(
                f"{path} has schema version {version}, but this peermind only knows up to "
                f"{SCHEMA_VERSION}: upgrade peermind (or use another --data-dir)"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target - 1]:
                c.execute(statement)
        if version != SCHEMA_VERSION:
            c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    try:
        _transaction(conn, upgrade)
    except sqlite3.Error as exc:
        raise _translate(exc, path, "migrate") from exc


def _translate(exc: sqlite3.Error, path: Path, action: str) -> StoreError:
    code = getattr(exc, "sqlite_errorcode", None)
    text = str(exc)
    if code == sqlite3.SQLITE_FULL or "database or disk is full" in text:
        return StoreFull(
            f"{path}: disk full (or database size cap reached) during {action}; the write was "
            "rolled back. Free disk space; reads keep working"
        )
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
        return StoreError(f"{path} is not a peermind database (or is corrupt): {text}")
    if "locked" in text or code == getattr(sqlite3, "SQLITE_BUSY", 5):
        return StoreError(
            f"{path} is locked by another process ({text}); is a node already running?"
        )
    return StoreError(f"{path}: database {action} failed: {text}")
