"""An in-memory ring of this node's recent answers with their full provenance.

Why not only the SQLite task log: ``store.tasks`` keeps one flat row per task (enough for
history and statistics) but not the provenance's nested parts (every attempt, every
contribution, the router's estimates). The console shows those when a task is clicked,
so the node keeps the last few hundred whole answers in memory; they vanish on restart.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Protocol

from peermind.protocol import ChatMessage

from .events import json_safe

__all__ = ["AnswerLog", "QUESTION_CHARS", "TEXT_CHARS"]

QUESTION_CHARS = 1000
TEXT_CHARS = 4000


class _JobLike(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def messages(self) -> Sequence[ChatMessage]: ...

    @property
    def text(self) -> str: ...


class _AnswerLike(Protocol):
    @property
    def text(self) -> str: ...

    def provenance(self) -> Mapping[str, object]: ...


class AnswerLog:
    """The last ``size`` answers (and failures), newest last; entries are plain JSON dicts."""

    def __init__(self, size: int = 200) -> None:
        self._entries: deque[dict[str, object]] = deque(maxlen=size)
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._entries)

    def record(
        self,
        job: _JobLike,
        mode: str,
        *,
        answer: _AnswerLike | None = None,
        error: BaseException | None = None,
        latency_ms: float | None = None,
    ) -> dict[str, object]:
        """Keep one finished ask (``answer``) or failed one (``error``); returns the entry."""
        now = time.time()
        entry: dict[str, object] = {
            "id": next(self._ids),
            "at": now,
            "kind": job.kind,
            "question": _question(job)[:QUESTION_CHARS],
            "mode": mode,
        }
        if answer is not None:
            entry.update(
                status="ok",
                text=answer.text[:TEXT_CHARS],
                provenance=json_safe(answer.provenance()),
            )
        else:
            entry.update(
                status="error",
                text="",
                error=f"{type(error).__name__}: {error}" if error is not None else "unknown error",
                latency_ms=round(latency_ms, 1) if latency_ms is not None else None,
                provenance={},
            )
        self._entries.append(entry)
        return entry

    def recent(self, limit: int = 50) -> list[dict[str, object]]:
        """The newest ``limit`` entries, newest first."""
        items = list(self._entries)[-max(limit, 0):] if limit else []
        return items[::-1]

    def get(self, entry_id: int) -> Mapping[str, object] | None:
        """The entry with ``entry_id`` while it is still in the ring (the console's detail view)."""
        for entry in reversed(self._entries):
            if entry["id"] == entry_id:
                return entry
        return None


def _question(job: _JobLike) -> str:
    """The user's words: the last user message of a chat job, else the job's text."""
    for message in reversed(job.messages):
        if message.role == "user":
            return message.content
    return job.text
