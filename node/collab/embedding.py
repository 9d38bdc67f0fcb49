"""Query embeddings for routing and feedback, off the trio thread and loaded only when needed.

Loading all-MiniLM-L6-v2 on onnxruntime (peermind.federated's default) adds ~160 MB RSS
and 1-3 s; on the torch fallback ~440 MB and 4.5 s (quiet host) to 24 s (busy host), and an
idle SmolLM2 node went from 359 MB to 800 MB. Warming it at start would cost every node that
never routes by embedding (no trained head, no labelled rows) that memory, so it loads
in the background (``loader``) after the first request for it: the first feedback row,
a seed run, or the first routing decision that wants it. Routing never waits for the
load: until the model is in, ``ready`` is False and the policies decide by the ad prior.
``warm_up()`` loads it at once for nodes that prefer a learned first decision.

A question is embedded once per answer: routing's vector is kept (``RECENT_QUERIES``, on the
trio side), so the feedback row, a retry or a knowledge match reuses it without a thread hop
(each hop waits for a worker thread and then for the trio thread to be scheduled: several
ms on a loaded 2-core host). Routing has a limiter of its own, so a question never queues
behind background batches (seeding, ``embed_counted``) in trio's limiter.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
import trio

from .job import Job

log = logging.getLogger("peermind.node.collab.embedding")

_T = TypeVar("_T")

MAX_QUERY_CHARS = 2000  # MiniLM reads 256 word pieces; the rest only costs time
RECENT_QUERIES = 256
"""Single-query embeddings kept on the trio side (~1.5 kB each): a question's routing vector
serves its feedback row and any re-ask without another worker-thread call."""


class EncoderLike(Protocol):
    """What the query embedder needs of a sentence encoder (the real MiniLM or a test fake)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``, one row each."""
        ...

    def encode_one(self, text: str) -> np.ndarray:
        """The embedding of one text."""
        ...

    def token_counts(self, texts: Sequence[str]) -> tuple[list[int], int]:
        """Tokens per text and the encoder's maximum."""
        ...


def query_text(job: Job) -> str:
    """What the router sees of a job: the question and, for multiple choice, the choices.

    Seeding, routing and feedback all embed through this one function, so the router
    is trained on exactly the text it is later asked about.
    """
    if job.kind == "score":
        choices = " | ".join(c.strip() for c in job.continuations)
        text = f"{job.prompt.strip()}\nChoices: {choices}"
    else:
        text = "\n".join(m.content for m in job.messages if m.role != "assistant") or job.prompt
    return text[:MAX_QUERY_CHARS]


@dataclass(frozen=True)
class EmbeddedTexts:
    """``vectors`` (n, 384); ``tokens`` the model read per text; ``truncated`` the texts it cut short."""

    vectors: np.ndarray
    tokens: tuple[int, ...]
    truncated: tuple[int, ...]


class QueryEmbedder:
    """Async façade over ``peermind.federated.Embedder`` (or any encoder, for tests)."""

    def __init__(self, encoder: EncoderLike | None = None) -> None:
        self._encoder = encoder
        self._limiter = trio.CapacityLimiter(1)  # background batches: seeding, usage counts
        self._query_limiter = trio.CapacityLimiter(1)  # single questions: routing never queues behind a batch
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self.cache_hits = 0
        self.loaded = encoder is not None and not _is_lazy(encoder)
        self.load_s: float | None = None
        self._load_requested = trio.Event()
        # Calls abandoned on cancel keep running in their worker thread; the process must not
        # finalise onnxruntime under them (std::terminate at exit, SIGABRT): ``close`` waits.
        self._running = 0
        self._idle = threading.Condition()

    @property
    def ready(self) -> bool:
        """True once an embedding costs milliseconds (model in memory)."""
        return self.loaded

    def request_load(self) -> None:
        """Ask ``loader`` to load the model in the background (idempotent, never blocks)."""
        self._load_requested.set()

    async def loader(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Background task: wait for the first ``request_load`` and load the model then."""
        task_status.started()
        await self._load_requested.wait()
        if not self.loaded:
            try:
                await self.warm_up()
            except Exception:
                log.exception("the query embedder failed to load; routing stays on the ad prior")

    def _get(self) -> EncoderLike:
        if self._encoder is None:
            from peermind.federated import Embedder

            self._encoder = Embedder(num_threads=1)
        return self._encoder

    async def warm_up(self) -> None:
        """Load the model now, in a worker thread (the trio loop keeps serving)."""
        await self.embed_many(["warm up"])

    async def embed(self, text: str) -> np.ndarray:
        """One query's embedding (384 floats, unit norm); a text seen lately costs no thread hop."""
        hit = self._recent.get(text)
        if hit is not None:
            self._recent.move_to_end(text)
            self.cache_hits += 1
            return hit
        started = time.perf_counter()
        encoder = self._get()
        # abandon_on_cancel: the first call loads the model (1-25 s); a node told to stop must not
        # wait for that (SIGTERM exit time). The worker thread just finishes unobserved.
        vec = await trio.to_thread.run_sync(self._tracked(encoder.encode_one), text, limiter=self._query_limiter,
                                            abandon_on_cancel=True)
        self._mark_loaded(started)
        self._remember(text, vec)
        return vec

    def _remember(self, text: str, vec: np.ndarray) -> None:
        self._recent[text] = vec
        self._recent.move_to_end(text)
        while len(self._recent) > RECENT_QUERIES:
            self._recent.popitem(last=False)

    async def embed_many(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts`` in a worker thread (the model loads on first use)."""
        started = time.perf_counter()
        encoder = self._get()
        out = await trio.to_thread.run_sync(self._tracked(encoder.encode), list(texts), limiter=self._limiter,
                                          abandon_on_cancel=True)
        self._mark_loaded(started)
        return out

    async def embed_counted(self, texts: Sequence[str]) -> EmbeddedTexts:
        """Embeddings plus the word pieces the model read of each text (for API usage figures)."""
        started = time.perf_counter()
        encoder = self._get()
        items = list(texts)

        def work() -> EmbeddedTexts:
            vectors = encoder.encode(items)
            counts, limit = encoder.token_counts(items)
            return EmbeddedTexts(vectors, tuple(min(n, limit) for n in counts),
                                 tuple(i for i, n in enumerate(counts) if n > limit))

        out = await trio.to_thread.run_sync(self._tracked(work), limiter=self._limiter, abandon_on_cancel=True)
        self._mark_loaded(started)
        return out

    def _tracked(self, fn: Callable[..., _T]) -> Callable[..., _T]:
        """``fn`` counted as running from the worker thread's start to its end, abandoned or not."""

        def call(*args: object) -> _T:
            with self._idle:
                self._running += 1
            try:
                return fn(*args)
            finally:
                with self._idle:
                    self._running -= 1
                    self._idle.notify_all()

        return call

    def close(self, timeout_s: float = 30.0) -> bool:
        """Wait (blocking) for abandoned embedding calls, then drop the model; False if one outlived ``timeout_s``.

        Called once the daemon's nursery has ended: a worker thread still inside onnxruntime
        while the interpreter finalises the session aborts the process (exit code -6).
        """
        with self._idle:
            idle = self._idle.wait_for(lambda: self._running == 0, timeout=timeout_s)
        if idle:
            self._encoder = None
            self._recent.clear()
            self.loaded = False
        return idle

    def _mark_loaded(self, started: float) -> None:
        if not self.loaded:
            self.loaded = True
            self.load_s = time.perf_counter() - started
            log.info("query embedder loaded", extra={"seconds": round(self.load_s, 2)})


def _is_lazy(encoder: object) -> bool:
    """The real Embedder loads its model on first use; fakes are ready at once."""
    return type(encoder).__name__ == "Embedder"
