"""A node's knowledge: its corpus index, retrieval for the tasks it serves, and its ad summary.

``ground`` is the task protocol's hook: before a task reaches the model, the top
passages for its question go into the prompt; after, the result cites them by document
and chunk id. Passage text goes back to the asker only when the request asked for
evidence and ``share_passages`` is on. The chunk matrix and the summary are cached per
index generation, so documents added by ``peermind docs add`` from another process are
picked up on the next task and the next ad.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import trio
from peermind.protocol import (
    Citation,
    KnowledgeSummary,
    TaskRequest,
    TaskResult,
    truncate_utf8,
)

from .indexer import EmbedMany, IndexLimits, IndexReport, Progress, index_path
from .prompting import grounded
from .store import ChunkMatrix, KnowledgeStore
from .summary import summarise

log = logging.getLogger("peermind.node.knowledge")


@dataclass(frozen=True)
class KnowledgeSettings:
    """The ``knowledge`` config section as the service uses it: indexing limits, retrieval
    depth and cut-off, what may be shared, and how the ad's summary is built."""

    limits: IndexLimits = IndexLimits()
    top_k: int = 3
    min_similarity: float = 0.25
    share_passages: bool = False
    passage_chars: int = 400
    summary_centroids: int = 4
    summary_noise: float = 0.0
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class Retrieved:
    """One retrieved chunk: where it comes from, how close it is to the question, its text."""

    doc: str
    chunk: int
    similarity: float
    text: str


@dataclass(frozen=True)
class Grounded:
    """A task with passages in its prompt, and what its result must carry back."""

    request: TaskRequest
    passages: tuple[Retrieved, ...]
    share: bool
    passage_chars: int

    def finish(self, result: TaskResult) -> TaskResult:
        """``result`` citing the passages (and carrying their text only where sharing is allowed)."""
        citations = [Citation(doc=p.doc, chunk=p.chunk, similarity=max(-1.0, min(1.0, round(p.similarity, 4))))
                     for p in self.passages]
        shared = [truncate_utf8(p.text, self.passage_chars) for p in self.passages] if self.share else []
        return replace(result, citations=citations, passages=shared)


class KnowledgeService:
    """One node's documents: indexing, retrieval for the tasks it serves, and its ad summary."""

    def __init__(self, data_dir: Path, embed_many: EmbedMany, settings: KnowledgeSettings = KnowledgeSettings()) -> None:
        self.store = KnowledgeStore(data_dir)
        self.settings = settings
        self._embed_many = embed_many
        self._matrix: ChunkMatrix | None = None
        self._summary: tuple[int, KnowledgeSummary | None] | None = None
        self._lock = trio.Lock()

    @property
    def has_documents(self) -> bool:
        """Whether any chunk is indexed (a node without documents grounds nothing)."""
        return self.store.totals()[1] > 0

    async def index(self, root: Path, progress: Progress = lambda _m: None) -> IndexReport:
        """Index the files under ``root`` (``index_path`` with this node's limits)."""
        return await index_path(self.store, root, self._embed_many, limits=self.settings.limits, progress=progress)

    async def matrix(self) -> ChunkMatrix:
        """The chunk matrix, re-read only when the index generation moved."""
        async with self._lock:
            generation = self.store.generation()
            if self._matrix is None or self._matrix.generation != generation:
                self._matrix = await trio.to_thread.run_sync(self.store.matrix)
            return self._matrix

    async def retrieve(self, question: str, k: int | None = None) -> list[Retrieved]:
        """The ``k`` chunks most similar to ``question`` above ``min_similarity``, best first."""
        m = await self.matrix()
        if not m.ids or not question.strip():
            return []
        query = np.asarray((await self._embed_many([question]))[0], dtype=np.float32)
        sims = m.vectors @ query
        order = [i for i in np.argsort(-sims)[: k or self.settings.top_k] if sims[i] >= self.settings.min_similarity]
        ids = [m.ids[i] for i in order]
        texts = await trio.to_thread.run_sync(self.store.chunk_texts, ids)
        return [Retrieved(d, c, float(sims[i]), t) for (d, c), i, t in zip(ids, order, texts, strict=True)]

    async def ground(self, req: TaskRequest) -> Grounded | None:
        """``req`` with its top passages in the prompt (None: no corpus or nothing relevant).

        Retrieval failing (index unreadable, embedder broken) must not cost the asker its
        answer: the task then runs without passages, and the failure is logged.
        """
        try:
            passages = await self.retrieve(question_of(req))
        except Exception:
            log.exception("retrieval failed; answering without passages")
            return None
        if not passages:
            return None
        messages, prompt = grounded(req.messages, req.prompt,
                                    [p.text for p in passages])
        request = replace(req, messages=list(messages), prompt=prompt)
        return Grounded(request, tuple(passages), bool(req.evidence) and self.settings.share_passages,
                        self.settings.passage_chars)

    @property
    def last_summary(self) -> KnowledgeSummary | None:
        """The summary last built (for this node's own candidate; no work done here)."""
        return self._summary[1] if self._summary is not None else None

    async def summary_or_none(self) -> KnowledgeSummary | None:
        """``summary`` for the ad, which must go out even when the index cannot be read."""
        try:
            return await self.summary()
        except Exception:
            log.exception("could not summarise the corpus; the ad goes out without it")
            return None

    async def summary(self) -> KnowledgeSummary | None:
        """The ad's corpus summary (recomputed only when the index changed)."""
        generation = self.store.generation()
        if self._summary is not None and self._summary[0] == generation:
            return self._summary[1]
        m = await self.matrix()
        s = self.settings
        built = await trio.to_thread.run_sync(
            lambda: summarise(m.vectors, centroids=s.summary_centroids, noise=s.summary_noise, topics=s.topics))
        self._summary = (m.generation, built)
        return built


def question_of(req: TaskRequest) -> str:
    """What to retrieve for: the last user turn, else the raw prompt."""
    users: Sequence[str] = [m.content for m in req.messages if m.role == "user"]
    return users[-1] if users else req.prompt
