"""The collaboration entry point: turn a question into an answer with provenance.

``Collaborator`` owns the "try a candidate, fall back to the next" loop that every mode
shares, and records each attempt as evidence for the trust module. Modes differ only in
how they pick and combine candidates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio
from peermind.protocol import TaskRefusal, TaskRequest, TaskResult

from ..p2p.host import PeerUnreachable
from ..p2p.streams import BadReply, PeerCallError, PeerTimeout
from ..p2p.tasks import TaskRefused, make_request, now_ms
from .answer import Answer, Attempt
from .candidates import Candidate
from .constraints import NO_CONSTRAINTS, AllCandidatesFailed, CollaborationError, Constraints
from .route import estimate_tokens, feasible, rank_by_prior

log = logging.getLogger("peermind.node.collab")

MAX_ATTEMPTS = 3

ExecuteLocal = Callable[[TaskRequest], Awaitable[TaskResult | TaskRefusal]]
RequestRemote = Callable[[str, TaskRequest], Awaitable[TaskResult]]
EvidenceSink = Callable[[str, str, str], None]


@dataclass(frozen=True)
class Job:
    """What to run, independent of who runs it."""

    kind: str  # generate | score
    messages: tuple[tuple[str, str], ...] = ()
    prompt: str = ""
    continuations: tuple[str, ...] = ()
    max_tokens: int = 128
    temperature: float = 0.0

    @property
    def text(self) -> str:
        return self.prompt or "\n".join(content for _role, content in self.messages)

    def to_request(self, timeout_s: float) -> TaskRequest:
        return make_request(
            kind=self.kind,
            messages=[{"role": r, "content": c} for r, c in self.messages],
            prompt=self.prompt,
            continuations=list(self.continuations),
            max_tokens=self.max_tokens if self.kind == "generate" else 1,
            temperature=self.temperature,
            timeout_s=timeout_s,
        )


class Collaborator:
    def __init__(
        self,
        *,
        candidates: Callable[[], list[Candidate]],
        execute_local: ExecuteLocal,
        request_remote: RequestRemote,
        on_evidence: EvidenceSink,
    ) -> None:
        self._candidates = candidates
        self._execute_local = execute_local
        self._request_remote = request_remote
        self._on_evidence = on_evidence

    async def run(self, job: Job, *, mode: str = "auto", constraints: Constraints = NO_CONSTRAINTS, timeout_s: float = 60.0) -> Answer:
        if mode == "local":
            constraints = Constraints(**{**constraints.__dict__, "local_only": True})
        if mode not in ("auto", "local", "route"):
            raise CollaborationError(f"unknown mode {mode!r}")
        prompt_tokens = estimate_tokens(job.text)
        max_tokens = job.max_tokens if job.kind == "generate" else 1
        ok = feasible(self._candidates(), constraints, prompt_tokens=prompt_tokens, max_tokens=max_tokens)
        ranked = rank_by_prior(ok, prompt_tokens=prompt_tokens, max_tokens=max_tokens)
        reason = "strongest model within the constraints (ad prior)"
        return await self.try_in_order(job, ranked, mode=mode if mode != "auto" else "route", timeout_s=timeout_s, reason=reason)

    async def try_in_order(self, job: Job, ranked: list[Candidate], *, mode: str, timeout_s: float, reason: str) -> Answer:
        """Ask candidates in order until one answers; the user only sees an error if all fail."""
        deadline = trio.current_time() + timeout_s
        attempts: list[Attempt] = []
        for candidate in ranked[:MAX_ATTEMPTS]:
            remaining = deadline - trio.current_time()
            if remaining <= 0.05:
                break
            result, attempt = await self.attempt(job, candidate, remaining)
            attempts.append(attempt)
            if result is not None:
                return self._answer(job, mode, candidate, result, attempts, reason)
        details = "; ".join(f"{a.peer_id[:12]}…: {a.outcome} {a.detail}" for a in attempts) or "deadline reached"
        raise AllCandidatesFailed(f"no candidate answered ({details})")

    async def attempt(self, job: Job, candidate: Candidate, timeout_s: float) -> tuple[TaskResult | None, Attempt]:
        req = job.to_request(timeout_s)
        started = time.perf_counter()
        outcome, detail = "ok", ""
        result: TaskResult | None = None
        try:
            if candidate.is_local:
                reply = await self._execute_local(req)
                if isinstance(reply, TaskRefusal):
                    outcome, detail = f"refused:{reply.reason}", reply.detail
                else:
                    result = reply
            else:
                result = await self._request_remote(candidate.peer_id, req)
        except TaskRefused as exc:
            outcome, detail = f"refused:{exc.reason}", str(exc)
            self._on_evidence(candidate.peer_id, "refusal_busy" if exc.reason == "busy" else "refusal_other", str(exc))
        except PeerTimeout as exc:
            outcome, detail = "timeout", str(exc)
            self._on_evidence(candidate.peer_id, "timeout", str(exc))
        except BadReply as exc:
            outcome, detail = "bad_reply", str(exc)
        except PeerUnreachable as exc:
            outcome, detail = "unreachable", str(exc)
            self._on_evidence(candidate.peer_id, "timeout", str(exc))
        except PeerCallError as exc:
            outcome, detail = "failed", str(exc)
            self._on_evidence(candidate.peer_id, "timeout", str(exc))
        latency_ms = (time.perf_counter() - started) * 1000
        if result is not None and not candidate.is_local:
            late = now_ms() > req.deadline_ms
            self._on_evidence(candidate.peer_id, "task_late" if late else "task_ok", f"{latency_ms:.0f} ms")
        if outcome != "ok":
            log.info("attempt failed", extra={"peer": candidate.peer_id, "outcome": outcome})
        return result, Attempt(candidate.peer_id, candidate.model, outcome, latency_ms, detail[:300])

    @staticmethod
    def _answer(job: Job, mode: str, who: Candidate, result: TaskResult, attempts: list[Attempt], reason: str) -> Answer:
        tokens = result.prompt_tokens + result.completion_tokens
        if job.kind == "score":
            tokens = estimate_tokens(job.text) + sum(estimate_tokens(c) for c in job.continuations)
        return Answer(
            text=result.text,
            mode=mode,
            answered_by=who.peer_id,
            model=result.model,
            confidence=result.confidence,
            cost=who.cost_per_1k * tokens / 1000,
            latency_ms=sum(a.latency_ms for a in attempts),
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            attempts=tuple(attempts),
            reason=reason,
            scores=tuple((s.logprob, s.n_tokens) for s in result.scores),
        )
