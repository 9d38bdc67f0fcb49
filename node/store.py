"""The node's one SQLite file (``DATA_DIR/node.db``): peers, task log, training data, trust evidence.

Why SQLite in WAL mode with ``synchronous=NORMAL``: every committed row
survives a crash of the process (``kill -9``), readers never block the writer
and vice versa, and commits cost no fsync. Each write is one short
transaction, so nothing holds the write lock for long.

The schema is versioned with ``PRAGMA user_version`` and an ordered list of
migrations; a database from a newer peermind is refused rather than guessed at.

Calls are synchronous and short (well under a millisecond for one row). The
daemon may call them directly from trio; larger reads (``feedback_rows`` for a
training round) should go through ``trio.to_thread.run_sync``. A lock makes
one ``Store`` safe to share between trio and worker threads.

Feedback rows are training data and never leave the node.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from .errors import StoreError, StoreFull, StoreVersionError
from .labelled_rows import ROLES, SPLITS, labels_of

__all__ = [
    "DB_FILENAME",
    "SCHEMA_VERSION",
    "EvidenceRecord",
    "FeedbackRecord",
    "PeerRecord",
    "RoundRecord",
    "RouterWeights",
    "Store",
    "TaskRecord",
]

DB_FILENAME = "node.db"
_BUSY_TIMEOUT_MS = 5000
_T = TypeVar("_T")

TaskStatus = Literal["ok", "refused", "failed", "timeout"]
Direction = Literal["in", "out"]
_STATUSES = ("ok", "refused", "failed", "timeout")
_DIRECTIONS = ("in", "out")

# Migration i takes user_version i to i + 1. Append only; never edit a shipped one.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE peers (
            peer_id    TEXT PRIMARY KEY,
            first_seen REAL NOT NULL,
            last_seen  REAL NOT NULL,
            last_ad    BLOB,
            addrs      TEXT NOT NULL DEFAULT '[]'
        )""",
        """CREATE TABLE tasks (
            id                INTEGER PRIMARY KEY,
            task_id           TEXT,
            direction         TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            peer              TEXT,
            mode              TEXT,
            kind              TEXT,
            model             TEXT,
            status            TEXT NOT NULL
                              CHECK (status IN ('ok', 'refused', 'failed', 'timeout')),
            reason            TEXT,
            prompt_tokens     INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            latency_ms        REAL,
            cost              REAL,
            confidence        REAL,
            created_at        REAL NOT NULL
        )""",
        "CREATE INDEX tasks_created ON tasks (created_at)",
        "CREATE INDEX tasks_task_id ON tasks (task_id)",
        """CREATE TABLE feedback (
            id              INTEGER PRIMARY KEY,
            task_id         TEXT,
            query_embedding BLOB NOT NULL,
            query_id        TEXT,
            peer            TEXT,
            model_key       TEXT,
            mode            TEXT,
            correct         INTEGER CHECK (correct IN (0, 1)),
            cost            REAL,
            latency_ms      REAL,
            confidence      REAL,
            created_at      REAL NOT NULL
        )""",
        "CREATE INDEX feedback_created ON feedback (created_at)",
        """CREATE TABLE evidence (
            id     INTEGER PRIMARY KEY,
            peer   TEXT NOT NULL,
            kind   TEXT NOT NULL,
            weight REAL NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            at     REAL NOT NULL
        )""",
        "CREATE INDEX evidence_peer_at ON evidence (peer, at)",
        "CREATE INDEX evidence_at ON evidence (at)",
        """CREATE TABLE training_rounds (
            id           INTEGER PRIMARY KEY,
            run_id       TEXT NOT NULL,
            round        INTEGER NOT NULL,
            role         TEXT NOT NULL,
            participants TEXT NOT NULL DEFAULT '[]',
            excluded     TEXT NOT NULL DEFAULT '[]',
            metrics      TEXT NOT NULL DEFAULT '{}',
            adopted      INTEGER NOT NULL DEFAULT 0 CHECK (adopted IN (0, 1)),
            created_at   REAL NOT NULL,
            UNIQUE (run_id, round, role)
        )""",
        """CREATE TABLE router_weights (
            version    INTEGER PRIMARY KEY,
            blob       BLOB NOT NULL,
            schema     TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL,
            active     INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1))
        )""",
        # At most one active version, enforced by the database itself.
        "CREATE UNIQUE INDEX router_weights_one_active ON router_weights (active) WHERE active = 1",
    ),
    (
        # A feedback row's role and split get their own columns (node/labelled_rows.py); rows
        # written before this packed them into ``mode`` ("vote:dissent", "seed:validation").
        "ALTER TABLE feedback ADD COLUMN role TEXT NOT NULL DEFAULT 'answer'",
        "ALTER TABLE feedback ADD COLUMN split TEXT",
        "UPDATE feedback SET split = 'train' WHERE mode = 'seed'",
        "UPDATE feedback SET split = 'validation' WHERE mode IN ('seed:validation', 'seed:generate')",
        """UPDATE feedback SET role = substr(mode, instr(mode, ':') + 1), mode = substr(mode, 1, instr(mode, ':') - 1)
           WHERE mode NOT LIKE 'seed%' AND instr(mode, ':') > 0
             AND substr(mode, instr(mode, ':') + 1) IN ('answer', 'dissent', 'other')""",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)
_TABLES = ("peers", "tasks", "feedback", "evidence", "training_rounds", "router_weights")


# --- rows ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerRecord:
    """A peer this node has seen; ``last_ad`` is the encoded ad exactly as received."""

    peer_id: str
    first_seen: float
    last_seen: float
    last_ad: bytes | None
    addrs: tuple[str, ...]


@dataclass(frozen=True)
class TaskRecord:
    """One task this node asked for (``out``) or served (``in``)."""

    id: int
    task_id: str | None
    direction: str
    peer: str | None
    mode: str | None
    kind: str | None
    model: str | None
    status: str
    reason: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float | None
    cost: float | None
    confidence: float | None
    created_at: float


@dataclass(frozen=True)
class FeedbackRecord:
    """One router training example: the query's embedding and how a peer/model did on it."""

    id: int
    task_id: str | None
    query_embedding: np.ndarray  # float32, 1-D
    query_id: str | None
    peer: str | None
    model_key: str | None
    mode: str | None
    correct: bool | None
    cost: float | None
    latency_ms: float | None
    confidence: float | None
    created_at: float
    role: str = "answer"  # answer | dissent | other (node/labelled_rows.py)
    split: str | None = None  # train | validation | None: by hash of the query id


@dataclass(frozen=True)
class EvidenceRecord:
    """One observation about a peer's behaviour, for the trust module."""

    id: int
    peer: str
    kind: str
    weight: float
    detail: str
    at: float


@dataclass(frozen=True)
class RoundRecord:
    """What this node saw of one federated training round, in one role."""

    id: int
    run_id: str
    round: int
    role: str
    participants: tuple[str, ...]
    excluded: tuple[str, ...]
    metrics: dict[str, Any]
    adopted: bool
    created_at: float


@dataclass(frozen=True)
class RouterWeights:
    """A serialised router model and the schema (feature layout, etc.) to load it with."""

    version: int
    blob: bytes
    schema: dict[str, Any]
    created_at: float
    active: bool


# --- the store ---------------------------------------------------------------------------


class Store:
    """A node's SQLite database. Open with :meth:`Store.open`; close with :meth:`close`."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        """Use :meth:`open`; this wraps an already configured and migrated connection."""
        self._conn: sqlite3.Connection | None = conn
        self._lock = threading.RLock()
        self.path = path

    # -- lifecycle

    @classmethod
    def open(cls, path: Path, *, max_db_bytes: int | None = None) -> Store:
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
                check_same_thread=False,  # guarded by the store's lock instead
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

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- peers

    def upsert_peer(
        self,
        peer_id: str,
        *,
        seen_at: float | None = None,
        ad: bytes | None = None,
        addrs: Sequence[str] | None = None,
    ) -> None:
        """Record that ``peer_id`` was seen; ``ad``/``addrs`` replace the stored ones when given."""
        _require(bool(peer_id), "peer_id must not be empty")
        now = _now(seen_at)
        addrs_json = None if addrs is None else json.dumps(list(addrs))
        self._write(
            lambda c: c.execute(
                """INSERT INTO peers (peer_id, first_seen, last_seen, last_ad, addrs)
                   VALUES (?, ?, ?, ?, COALESCE(?, '[]'))
                   ON CONFLICT (peer_id) DO UPDATE SET
                     last_seen = MAX(last_seen, excluded.last_seen),
                     first_seen = MIN(first_seen, excluded.first_seen),
                     last_ad = COALESCE(?, last_ad),
                     addrs = COALESCE(?, addrs)""",
                (peer_id, now, now, ad, addrs_json, ad, addrs_json),
            )
        )

    def list_peers(self, *, since: float | None = None) -> list[PeerRecord]:
        """Known peers, most recently seen first; only those seen at or after ``since`` if given."""
        rows = self._read(
            "SELECT peer_id, first_seen, last_seen, last_ad, addrs FROM peers "
            "WHERE last_seen >= ? ORDER BY last_seen DESC",
            (-1e300 if since is None else since,),
        )
        return [PeerRecord(r[0], r[1], r[2], r[3], tuple(json.loads(r[4]))) for r in rows]

    # -- task log

    def log_task(
        self,
        *,
        direction: Direction | str,
        status: TaskStatus | str,
        task_id: str | None = None,
        peer: str | None = None,
        mode: str | None = None,
        kind: str | None = None,
        model: str | None = None,
        reason: str | None = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        latency_ms: float | None = None,
        cost: float | None = None,
        confidence: float | None = None,
        created_at: float | None = None,
    ) -> int:
        """Append one task to the log; returns its row id."""
        _require(direction in _DIRECTIONS, f"direction must be 'in' or 'out', not {direction!r}")
        _require(status in _STATUSES, f"status must be one of {_STATUSES}, not {status!r}")
        values = (
            task_id, direction, peer, mode, kind, model, status, reason or None,
            int(prompt_tokens), int(completion_tokens), latency_ms, cost, confidence,
            _now(created_at),
        )  # fmt: skip
        return self._insert(
            "INSERT INTO tasks (task_id, direction, peer, mode, kind, model, status, reason, "
            "prompt_tokens, completion_tokens, latency_ms, cost, confidence, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )

    def recent_tasks(self, limit: int = 50) -> list[TaskRecord]:
        """The latest ``limit`` tasks, newest first."""
        rows = self._read(
            "SELECT id, task_id, direction, peer, mode, kind, model, status, reason, "
            "prompt_tokens, completion_tokens, latency_ms, cost, confidence, created_at "
            "FROM tasks ORDER BY created_at DESC, id DESC LIMIT ?",
            (_limit(limit),),
        )
        return [TaskRecord(*r) for r in rows]

    # -- feedback (router training data; never leaves the node)

    def add_feedback(
        self,
        *,
        query_embedding: np.ndarray | Sequence[float] | bytes,
        task_id: str | None = None,
        query_id: str | None = None,
        peer: str | None = None,
        model_key: str | None = None,
        mode: str | None = None,
        correct: bool | None = None,
        cost: float | None = None,
        latency_ms: float | None = None,
        confidence: float | None = None,
        created_at: float | None = None,
        role: str | None = None,
        split: str | None = None,
    ) -> int:
        """Store one training example; the embedding is kept as little-endian float32 bytes.

        ``role`` and ``split`` default to what a packed legacy ``mode`` says ("vote:dissent").
        """
        blob = _embedding_bytes(query_embedding)
        labels = labels_of(mode, role, split)
        _require(labels.role in ROLES, f"role must be one of {ROLES}, got {labels.role!r}")
        _require(labels.split is None or labels.split in SPLITS, f"split must be one of {SPLITS} or None")
        values = (
            task_id, blob, query_id, peer, model_key, labels.mode, _bool_or_none(correct),
            cost, latency_ms, confidence, _now(created_at), labels.role, labels.split,
        )  # fmt: skip
        return self._insert(
            "INSERT INTO feedback (task_id, query_embedding, query_id, peer, model_key, mode, "
            "correct, cost, latency_ms, confidence, created_at, role, split) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )

    def mark_feedback(self, feedback_id: int, correct: bool | None) -> bool:
        """Set (or clear) whether an answer was correct, once the node learns it."""
        cursor = self._write(
            lambda c: c.execute(
                "UPDATE feedback SET correct = ? WHERE id = ?",
                (_bool_or_none(correct), feedback_id),
            )
        )
        return cursor.rowcount == 1

    def feedback_rows(self, limit: int | None = None) -> list[FeedbackRecord]:
        """Training examples, newest first (all of them unless ``limit``)."""
        return self._feedback_where("1", -1 if limit is None else _limit(limit))

    def _feedback_where(self, condition: str, limit: int) -> list[FeedbackRecord]:
        rows = self._read(
            "SELECT id, task_id, query_embedding, query_id, peer, model_key, mode, correct, "
            f"cost, latency_ms, confidence, created_at, role, split FROM feedback WHERE {condition} "
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            (limit,),
        )
        return [
            FeedbackRecord(
                r[0], r[1], np.frombuffer(r[2], dtype="<f4"), r[3], r[4], r[5], r[6],
                None if r[7] is None else bool(r[7]), r[8], r[9], r[10], r[11], r[12], r[13],
            )  # fmt: skip
            for r in rows
        ]

    def count_labelled_feedback(self) -> int:
        """How many rows have a verdict: a cheap check before re-reading them."""
        return int(self._read("SELECT COUNT(*) FROM feedback WHERE correct IS NOT NULL", ())[0][0])

    def labelled_feedback_rows(self) -> list[FeedbackRecord]:
        """Rows with a verdict (right or wrong), newest first: the router's labelled memory."""
        return self._feedback_where("correct IS NOT NULL", -1)

    # -- trust evidence

    def add_evidence(
        self,
        *,
        peer: str,
        kind: str,
        weight: float = 1.0,
        detail: str = "",
        at: float | None = None,
    ) -> int:
        """Record one observation about ``peer`` (timeout, refusal, bad signature, ...)."""
        _require(bool(peer), "peer must not be empty")
        _require(bool(kind), "kind must not be empty")
        return self._insert(
            "INSERT INTO evidence (peer, kind, weight, detail, at) VALUES (?, ?, ?, ?, ?)",
            (peer, kind, float(weight), detail, _now(at)),
        )

    def evidence_rows(
        self, peer: str | None = None, since: float | None = None
    ) -> list[EvidenceRecord]:
        """Evidence, oldest first (the order decayed scoring consumes it in)."""
        clauses: list[str] = []
        params: list[Any] = []
        if peer is not None:
            clauses.append("peer = ?")
            params.append(peer)
        if since is not None:
            clauses.append("at >= ?")
            params.append(since)
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        rows = self._read(
            f"SELECT id, peer, kind, weight, detail, at FROM evidence {where}ORDER BY at, id",
            tuple(params),
        )
        return [EvidenceRecord(*r) for r in rows]

    # -- federated training

    def record_round(
        self,
        *,
        run_id: str,
        round: int,
        role: str,
        participants: Iterable[str] = (),
        excluded: Iterable[str] = (),
        metrics: Mapping[str, Any] | None = None,
        adopted: bool = False,
        created_at: float | None = None,
    ) -> None:
        """Record (or update) this node's view of one round in one role (client, server, ...)."""
        try:
            blobs = (
                json.dumps(list(participants)),
                json.dumps(list(excluded)),
                json.dumps(dict(metrics or {})),
            )
        except (TypeError, ValueError) as exc:
            raise StoreError(
                f"round {run_id}/{round}: values must be JSON-serialisable: {exc}"
            ) from exc
        self._write(
            lambda c: c.execute(
                """INSERT INTO training_rounds
                     (run_id, round, role, participants, excluded, metrics, adopted, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (run_id, round, role) DO UPDATE SET
                     participants = excluded.participants, excluded = excluded.excluded,
                     metrics = excluded.metrics, adopted = excluded.adopted""",
                (run_id, int(round), role, *blobs, int(bool(adopted)), _now(created_at)),
            )
        )

    def rounds(self, limit: int = 20) -> list[RoundRecord]:
        """The latest ``limit`` recorded rounds, newest first."""
        rows = self._read(
            "SELECT id, run_id, round, role, participants, excluded, metrics, adopted, created_at "
            "FROM training_rounds ORDER BY created_at DESC, id DESC LIMIT ?",
            (_limit(limit),),
        )
        return [
            RoundRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                tuple(json.loads(r[4])),
                tuple(json.loads(r[5])),
                json.loads(r[6]),
                bool(r[7]),
                r[8],
            )  # fmt: skip
            for r in rows
        ]

    # -- router weights

    def save_router_weights(
        self,
        blob: bytes,
        schema: Mapping[str, Any] | None = None,
        *,
        version: int | None = None,
        activate: bool = True,
        keep: int = 16,
    ) -> int:
        """Store a router model; returns its version (next free one unless given).

        With ``activate`` it becomes the only active version, atomically. Only
        the newest ``keep`` inactive versions are kept so the file stays small.
        """
        _require(isinstance(blob, bytes | bytearray | memoryview), "blob must be bytes")
        _require(keep >= 0, "keep must be >= 0")
        schema_json = json.dumps(dict(schema or {}))

        def save(c: sqlite3.Connection) -> int:
            v = version
            if v is None:
                v = c.execute(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM router_weights"
                ).fetchone()[0]
            if activate:
                c.execute("UPDATE router_weights SET active = 0 WHERE active = 1")
            c.execute(
                "INSERT INTO router_weights (version, blob, schema, created_at, active) "
                "VALUES (?, ?, ?, ?, ?)",
                (v, bytes(blob), schema_json, time.time(), int(activate)),
            )
            c.execute(
                "DELETE FROM router_weights WHERE active = 0 AND version NOT IN "
                "(SELECT version FROM router_weights WHERE active = 0 "
                " ORDER BY version DESC LIMIT ?)",
                (keep,),
            )
            return int(v)

        return self._write(save)

    def active_router_weights(self) -> RouterWeights | None:
        """The router model in use, or None before the first one is saved."""
        rows = self._read(
            "SELECT version, blob, schema, created_at, active FROM router_weights WHERE active = 1",
            (),
        )
        if not rows:
            return None
        v, blob, schema, created_at, active = rows[0]
        return RouterWeights(v, blob, json.loads(schema), created_at, bool(active))

    # -- status

    def counts(self) -> dict[str, int]:
        """Rows per table, for ``/status``."""
        sql = " UNION ALL ".join(f"SELECT '{t}', COUNT(*) FROM {t}" for t in _TABLES)
        return {name: n for name, n in self._read(sql, ())}

    # -- plumbing

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the node database {self.path} is closed")
        return self._conn

    def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._connection().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _translate(exc, self.path, "read") from exc

    def _write(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` in one short IMMEDIATE transaction; roll back on any failure."""
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise _translate(exc, self.path, "write") from exc
            return result

    def _insert(self, sql: str, params: Sequence[Any]) -> int:
        cursor = self._write(lambda c: c.execute(sql, params))
        return int(cursor.lastrowid or 0)


# --- private helpers ---------------------------------------------------------------------


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


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    try:
        conn.execute("BEGIN IMMEDIATE")  # re-read under the write lock: another process may migrate
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreVersionError(
                    f"{path} has schema version {version}, but this peermind only knows up to "
                    f"{SCHEMA_VERSION}: upgrade peermind (or use another --data-dir)"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[target - 1]:
                    conn.execute(statement)
            if version != SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
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


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise StoreError(message)


def _now(at: float | None) -> float:
    return time.time() if at is None else float(at)


def _limit(limit: int) -> int:
    _require(isinstance(limit, int) and limit >= 0, f"limit must be an int >= 0, not {limit!r}")
    return limit


def _bool_or_none(value: bool | None) -> int | None:
    return None if value is None else int(bool(value))


def _embedding_bytes(value: np.ndarray | Sequence[float] | bytes) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        _require(
            len(data) % 4 == 0 and len(data) > 0,
            "query_embedding bytes must be float32 (4 bytes each)",
        )
        return data
    try:
        array = np.asarray(value, dtype="<f4").ravel()
    except (TypeError, ValueError) as exc:
        raise StoreError(f"query_embedding must be a vector of numbers: {exc}") from exc
    _require(array.size > 0, "query_embedding must not be empty")
    _require(bool(np.isfinite(array).all()), "query_embedding must contain only finite numbers")
    return array.tobytes()
