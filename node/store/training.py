"""The training tables: ``training_rounds`` (what this node saw of each federated round)
and ``router_weights`` (the router models it saved, one of them active)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import StoreError
from .database import Database, now_or, require, row_limit

__all__ = ["RoundRecord", "RouterWeights", "TrainingTables"]


@dataclass(frozen=True)
class RoundRecord:
    """What this node saw of one federated training round, in one role."""

    id: int
    run_id: str
    round: int
    role: str
    participants: tuple[str, ...]
    excluded: tuple[str, ...]
    metrics: dict[str, object]
    adopted: bool
    created_at: float


@dataclass(frozen=True)
class RouterWeights:
    """A serialised router model and the schema (feature layout, etc.) to load it with."""

    version: int
    blob: bytes
    schema: dict[str, object]
    created_at: float
    active: bool


class TrainingTables(Database):
    """Reads and writes of the training tables (mixed into :class:`~peermind.node.store.Store`)."""

    def record_round(
        self,
        *,
        run_id: str,
        round: int,
        role: str,
        participants: Iterable[str] = (),
        excluded: Iterable[str] = (),
        metrics: Mapping[str, object] | None = None,
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
                (run_id, int(round), role, *blobs, int(bool(adopted)), now_or(created_at)),
            )
        )

    def rounds(self, limit: int = 20) -> list[RoundRecord]:
        """The latest ``limit`` recorded rounds, newest first."""
        rows = self._read(
            "SELECT id, run_id, round, role, participants, excluded, metrics, adopted, created_at "
            "FROM training_rounds ORDER BY created_at DESC, id DESC LIMIT ?",
            (row_limit(limit),),
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

    def save_router_weights(
        self,
        blob: bytes,
        schema: Mapping[str, object] | None = None,
        *,
        version: int | None = None,
        activate: bool = True,
        keep: int = 16,
    ) -> int:
        """Store a router model; returns its version (next free one unless given).

        With ``activate`` it becomes the only active version, atomically. Only
        the newest ``keep`` inactive versions are kept so the file stays small.
        """
        require(isinstance(blob, bytes | bytearray | memoryview), "blob must be bytes")
        require(keep >= 0, "keep must be >= 0")
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
