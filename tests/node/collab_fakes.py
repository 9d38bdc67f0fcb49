"""Small fakes for the collaboration policies' unit tests: peers as functions, no sockets.

A ``FakeNet`` holds candidates and, per peer, how it answers: a fixed score vector for
multiple choice, a text and mean log-prob for generation, or an exception to raise.
Everything above it (Collaborator, modes, router, utility) is the real code.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import trio
from peermind.node.collab.candidates import Candidate
from peermind.node.collab.embedding import QueryEmbedder
from peermind.node.collab.policy import Collaborator
from peermind.node.collab.quality import QualityMemory
from peermind.node.collab.router_state import RouterHolder
from peermind.node.p2p.streams import PeerFailed
from peermind.node.p2p.tasks import TaskRefused
from peermind.protocol import ContinuationScore, TaskRefusal, TaskRequest, TaskResult

DIM = 384


def candidate(peer: str, model: str = "smollm2", *, local: bool = False, params_m: float = 135.0,
              cost: float = 0.1, gen_tps: float = 50.0, queue: int = 0, tags: tuple[str, ...] = ()) -> Candidate:
    return Candidate(peer_id=peer, is_local=local, model=model, family=model, params_m=params_m,
                     gen_tps=gen_tps, prompt_tps=500.0, queue_depth=queue, max_queue=4,
                     max_concurrency=1, cost_per_1k=cost, tags=tags)


SMALL = dict(model="smollm2", params_m=135.0, cost=0.1)
LARGE = dict(model="gemma3-270m", params_m=268.0, cost=0.4, gen_tps=20.0)


@dataclass
class Behaviour:
    scores: Sequence[tuple[float, int]] = ()  # multiple choice
    text: str = "answer"
    logprob: float = -0.5  # mean token log-prob of the text
    error: Exception | None = None
    delay_s: float = 0.0


@dataclass
class FakeNet:
    candidates: list[Candidate]
    behaviour: dict[str, Behaviour] = field(default_factory=dict)
    calls: list[tuple[str, TaskRequest]] = field(default_factory=list)
    evidence: list[tuple[str, str, str]] = field(default_factory=list)

    def set(self, peer: str, **kw: object) -> None:
        self.behaviour[peer] = Behaviour(**kw)  # type: ignore[arg-type]

    async def _answer(self, peer: str, req: TaskRequest) -> TaskResult:
        self.calls.append((peer, req))
        b = self.behaviour.get(peer, Behaviour())
        if b.delay_s:
            await trio.sleep(b.delay_s)
        if b.error is not None:
            raise b.error
        model = next(c.model for c in self.candidates if c.peer_id == peer)
        if req.kind == "score":
            scores = b.scores or [(-1.0, 1)] * len(req.continuations)
            return TaskResult(task_id=req.task_id, scores=[ContinuationScore(logprob=lp, n_tokens=n) for lp, n in scores],
                              model=model, latency_ms=1.0)
        return TaskResult(task_id=req.task_id, text=b.text, prompt_tokens=10, completion_tokens=5,
                          confidence=b.logprob, model=model, latency_ms=1.0)

    async def execute_local(self, req: TaskRequest) -> TaskResult | TaskRefusal:
        local = next(c for c in self.candidates if c.is_local)
        return await self._answer(local.peer_id, req)

    async def request_remote(self, peer: str, req: TaskRequest) -> TaskResult:
        return await self._answer(peer, req)

    def collaborator(self, router: RouterHolder | None = None, embedder: QueryEmbedder | None = None,
                     quality: QualityMemory | None = None) -> Collaborator:
        return Collaborator(
            candidates=lambda: list(self.candidates),
            execute_local=self.execute_local,
            request_remote=self.request_remote,
            on_evidence=lambda e: self.evidence.append((e.peer, e.kind.value, e.detail)),
            router=router,
            embedder=embedder,
            quality=quality,
        )

    @property
    def asked(self) -> list[str]:
        return [p for p, _ in self.calls]


def dead() -> PeerFailed:
    return PeerFailed("call to peer failed: connection reset")


def busy(peer: str) -> TaskRefused:
    return TaskRefused(peer, TaskRefusal(task_id=b"\0" * 16, reason="busy", detail="queue full", retry_after_ms=100))


class FakeEncoder:
    """Deterministic unit vectors from a hash of the text (no torch)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.encode_one(t) for t in texts]) if texts else np.zeros((0, DIM), np.float32)

    def encode_one(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
        v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
        return v / np.linalg.norm(v)

    def token_counts(self, texts: Sequence[str]) -> tuple[list[int], int]:
        return [len(t.split()) + 2 for t in texts], 256  # whitespace words plus [CLS]/[SEP]


def fake_embedder() -> QueryEmbedder:
    return QueryEmbedder(FakeEncoder())


def mc(*logprobs: float) -> list[tuple[float, int]]:
    """Scores with one token per choice: the distribution is softmax(logprobs)."""
    return [(lp, 1) for lp in logprobs]


def router_with(p: dict[str, float], *, calibration: object | None = None) -> RouterHolder:
    """A holder whose trained heads predict a fixed P(correct) per model (bias only)."""
    from peermind.federated import RouterModel
    from peermind.node.collab.router_state import DEFAULT_SCHEMA

    keys = DEFAULT_SCHEMA.model_keys
    bias = np.array([math.log(p[k] / (1 - p[k])) if k in p else 0.0 for k in keys], np.float32)
    holder = RouterHolder(None)
    holder.adopt(RouterModel(DEFAULT_SCHEMA, np.zeros((len(keys), DIM), np.float32), bias), "test",
                 calibration=calibration)  # type: ignore[arg-type]
    return holder
