"""Feedback rows: every answer this node gives becomes local router training data.

One row per peer whose result went into the answer (query embedding, peer, model,
mode, cost, latency, confidence); correctness starts unknown (NULL) and is set when a
user (``POST /peermind/feedback``) or a canary says whether the answer was right. The
row's ``role`` column says whether the contribution was the answer itself, a dissent or
another text (node/labelled_rows.py), which is what lets one mark on the delivered
answer label several models: a multiple-choice dissenter was wrong whenever
the answer was right. Rows are written off the answer path (the embedding may need
the embedder to load) and never leave the node.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import trio

from ..errors import NodeError
from ..store import Store
from .answer import Answer
from .embedding import QueryEmbedder, query_text
from .errors import UnknownTask
from .job import Job

log = logging.getLogger("peermind.node.collab.feedback")

QUEUE_SIZE = 256


def label_for(role: str, answer_correct: bool) -> bool | None:
    """What a mark on the delivered answer says about a row with this role (None: nothing)."""
    if role == "answer":
        return answer_correct
    if role == "dissent" and answer_correct:
        return False
    return None


@dataclass(frozen=True)
class LabelledOutcome:
    """A verdict this node already knows when the answer arrives (a canary or idle probe).

    ``source`` is what produced it ("canary", "probe"); ``query_id`` names the item, so
    every model's outcome on one question lands on the same side of the train/validation
    split and repeats of one item can be recognised.
    """

    job: Job
    peer: str
    model: str
    correct: bool
    source: str
    query_id: str
    local_right: bool | None = None
    """This node's own model on the same question, when it answered (a hint of its difficulty)."""
    split: str | None = None
    """train | validation when the verdict says so (an asker's seed split); None: by hash."""


class FeedbackRecorder:
    """Queues (job, answer) pairs and known outcomes, and writes their rows from background tasks."""

    def __init__(self, store: Store, embedder: QueryEmbedder) -> None:
        self._store = store
        self._embedder = embedder
        self._send, self._receive = trio.open_memory_channel[tuple[Job, Answer]](QUEUE_SIZE)
        self._send_outcome, self._receive_outcome = trio.open_memory_channel[LabelledOutcome](QUEUE_SIZE)
        self.recorded = 0
        self.labelled = 0
        self.dropped = 0

    def submit_outcome(self, outcome: LabelledOutcome) -> None:
        """Non-blocking: a labelled row for a judged canary or probe (dropped and counted when far behind)."""
        try:
            self._send_outcome.send_nowait(outcome)
        except trio.WouldBlock:
            self.dropped += 1

    async def record_outcome(self, outcome: LabelledOutcome) -> int:
        """Write one labelled row: training data the node earned without a user's question."""
        self._embedder.request_load()
        embedding = await self._embedder.embed(query_text(outcome.job))
        row = self._store.add_feedback(
            query_embedding=embedding, task_id=None, query_id=outcome.query_id, peer=outcome.peer,
            model_key=outcome.model, mode=outcome.source, correct=outcome.correct,
            split=outcome.split, kind=outcome.job.kind,
        )
        self.labelled += 1
        return row

    async def _write_outcomes(self) -> None:
        async for outcome in self._receive_outcome:
            try:
                await self.record_outcome(outcome)
            except Exception:  # a feedback row must never take the daemon down
                log.exception("could not record a labelled outcome", extra={"peer": outcome.peer})

    def submit(self, job: Job, answer: Answer) -> None:
        """Non-blocking; drops (and counts) rows when the writer is far behind."""
        try:
            self._send.send_nowait((job, answer))
        except trio.WouldBlock:
            self.dropped += 1

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Store the rows of submitted answers and labelled outcomes until cancelled (off the request path)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._write_outcomes)
            task_status.started()
            async for job, answer in self._receive:
                try:
                    await self.record(job, answer)
                except Exception:  # a feedback row must never take the daemon down
                    log.exception("could not record feedback", extra={"task": answer.task_id})

    async def record(self, job: Job, answer: Answer) -> int:
        """Store one unlabelled row per contribution to ``answer`` (embedded once); returns how many.

        The routing embedding the answer carries is reused; only a question routed without
        one (cold router, embedder still loading) is embedded here.
        """
        embedding = answer.query_embedding
        if embedding is None:
            self._embedder.request_load()  # the loader gets it ready for routing in the meantime
            embedding = await self._embedder.embed(query_text(job))
        written = 0
        for c in answer.contributions:
            try:
                self._store.add_feedback(
                    query_embedding=embedding,
                    task_id=answer.task_id,
                    query_id=answer.task_id,
                    peer=c.peer_id,
                    model_key=c.model,
                    mode=answer.mode,
                    role=c.role,
                    kind=job.kind,
                    correct=None,
                    cost=c.cost,
                    latency_ms=c.latency_ms,
                    confidence=c.confidence if math.isfinite(c.confidence) else None,
                )
                written += 1
            except NodeError:
                log.exception("could not store a feedback row")
        self.recorded += written
        return written


def mark_task(store: Store, task_id: str, correct: bool) -> dict[str, int]:
    """Apply "the answer to ``task_id`` was right/wrong" to its rows; UnknownTask if none."""
    task_id = task_id.strip().lower()
    rows = [r for r in store.feedback_rows() if r.task_id == task_id]
    if not rows:
        raise UnknownTask(f"no feedback rows for task {task_id!r} on this node (use the task_id from the answer's provenance)")
    labelled = unlabelled = 0
    for r in rows:
        label = label_for(r.role, correct)
        if label is None:
            unlabelled += 1
            continue
        store.mark_feedback(r.id, label)
        labelled += 1
    return {"rows": len(rows), "labelled": labelled, "unlabelled": unlabelled}
