"""The ``tasks`` table: the flat log of tasks this node asked for or served."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .database import Database, now_or, require, row_limit

__all__ = ["Direction", "TaskLog", "TaskRecord", "TaskStatus"]

TaskStatus = Literal["ok", "refused", "failed", "timeout"]
Direction = Literal["in", "out"]
_STATUSES = ("ok", "refused", "failed", "timeout")
_DIRECTIONS = ("in", "out")


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


class TaskLog(Database):
    """Reads and writes of ``tasks`` (mixed into :class:`~peermind.node.store.Store`)."""

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
        require(direction in _DIRECTIONS, f"direction must be 'in' or 'out', not {direction!r}")
        require(status in _STATUSES, f"status must be one of {_STATUSES}, not {status!r}")
        values = (
            task_id, direction, peer, mode, kind, model, status, reason or None,
            int(prompt_tokens), int(completion_tokens), latency_ms, cost, confidence,
            now_or(created_at),
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
            (row_limit(limit),),
        )
        return [TaskRecord(*r) for r in rows]
