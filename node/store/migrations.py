"""The node database's schema history: one ordered list of migrations, append only.

Why one list for every table: ``PRAGMA user_version`` numbers the whole file, so
the order in which tables and columns appeared must be one sequence. Each
table's reads and writes live in its own module next to this one.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "TABLES"]

# Migration i takes user_version i to i + 1. Append only; never edit a shipped one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
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
    (
        # Each sender's highest accepted envelope timestamp (node/p2p/replay_floors.py), so that
        # replay protection survives a restart.
        """CREATE TABLE replay_floors (
            sender  BLOB PRIMARY KEY,
            high_ms INTEGER NOT NULL
        )""",
    ),
    (
        # A feedback row's task kind (score | generate, node/labelled_rows.py KINDS) gets its own
        # column: seed rows packed it and their split into ``mode`` ("seed:validation",
        # "seed:generate"); now every seed row's mode is plain "seed". Unknown for older rows.
        "ALTER TABLE feedback ADD COLUMN kind TEXT",
        "UPDATE feedback SET kind = 'generate', split = 'validation', mode = 'seed' WHERE mode = 'seed:generate'",
        "UPDATE feedback SET kind = 'score', split = 'validation', mode = 'seed' WHERE mode = 'seed:validation'",
        "UPDATE feedback SET kind = 'score', split = coalesce(split, 'train') WHERE mode = 'seed' AND kind IS NULL",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
# Counted for ``/status`` (Store.counts).
TABLES = ("peers", "tasks", "feedback", "evidence", "training_rounds", "router_weights")
