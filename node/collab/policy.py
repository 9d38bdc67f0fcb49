"""The collaboration entry point: turn a job into an answer with provenance.

``Collaborator.run`` does what every mode shares: filter candidates by the request's
hard constraints, embed the query and ask the learned router for P(correct) per model
(only when a trained head exists: cold start ranks by the ad prior and needs no
embedding), then hand a ranked list to the mode. It also owns the "call one candidate,
record the attempt as trust evidence" step every mode uses, so modes only decide whom
to ask and how to combine.

Hooks (``Collaborator.hooks``), for the trust wiring and anything else that needs to
see or steer collaboration without editing the modes:

- ``peer_allowed(peer_id) -> bool``: False rules the peer out (constraint "trust").
- ``peer_weight(peer_id) -> float`` in [0, 1]: multiplies the peer's P(correct) in utilities.
- ``after_answer``: list of ``fn(job, answer) -> None`` called after every answer
  (must not block: schedule slow work such as cross-checks yourself).
A peer that refused with ``retry_after_ms`` is skipped until then (``Collaborator.backoff``),
unless the request pins it (``Constraints(peer=...)``).
Canaries go through ``run`` like real queries (e.g. ``Constraints(peer=...)``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import trio
from peermind.federated import MatchWeight
from peermind.protocol import TaskRefusal, TaskRequest, TaskResult
from peermind.trust import Evidence, EvidenceEvent, EvidenceSink, ViolationKind, ViolationSource

from ..p2p.host import PeerUnreachable
from ..p2p.streams import BadReply, PeerCallError, PeerTimeout
from ..p2p.tasks import TaskRefused, new_task_id, now_ms
from . import cascade, consult, ensemble, negotiation, single  # noqa: F401 - each registers its modes
from .answer import Answer, Attempt, Contribution
from .backoff import PeerBackoff
from .candidates import Candidate
from .confidence import argmax, choice_distribution, mc_confidence, normalise_answer
from .constraints import (
    MODES,
    NO_CONSTRAINTS,
    NO_TACTICS,
    AllCandidatesFailed,
    CollaborationError,
    Constraints,
    InfeasibleConstraints,
    Tactics,
)
from .embedding import QueryEmbedder, query_text
from .inflight import InFlight
from .job import Job
from .knowledge_match import DEFAULT_KNOWLEDGE_WEIGHT, knowledge_match
from .knowledge_value import KnowledgeWeight
from .mode_registry import runner_for
from .quality import QualityMemory, QualityView
from .route import estimate_tokens, feasible, job_tokens, rank_by_prior
from .router_state import RouterHolder
from .streaming import note_decision
from .utility import DEFAULT_CHEAP_MARGIN, Estimate, estimate, lead_with, require_quality

log = logging.getLogger("peermind.node.collab")

MAX_ATTEMPTS = 3
NEGOTIABLE = ("auto", "route", "auction")
"""Modes whose single answering peer may be chosen by contract net (``negotiate: true``)."""
DEFAULT_THRESHOLDS = {"score": 0.5, "generate": -1.0}
"""Cascade thresholds before calibration: top-choice probability, mean token log-prob."""

ExecuteLocal = Callable[[TaskRequest], Awaitable[TaskResult | TaskRefusal]]
RequestRemote = Callable[[str, TaskRequest], Awaitable[TaskResult]]
BACK_PRESSURE = frozenset({"busy", "deadline", "rate_limited"})
"""Refusals that are honest back-pressure (weak evidence): the peer is loaded or we asked too often."""
WAIT_AND_RETRY = frozenset({"refused:busy", "refused:rate_limited"})
"""Refusals that end when the peer said (``retry_after``): worth one wait when nobody else answered."""
MAX_RETRY_WAITS = 4
"""Waits for one refusing peer per question: a peer has several limits (its request allowance, the
newcomer pool's, its work allowance in tokens), and the wait a refusal asks for ends only the limit
that refused, so a newcomer asking back-to-back was refused again right after waiting and its user
got an error (a light node pinned to a peer, 64-token answers every ~1.5 s: 7 of 24 questions failed
with one wait; with several, 24 of 24 answered, after up to three refusals)."""
MAX_RETRY_WAIT_S = 15.0
"""The longest wait for a refusing peer's ``retry_after``: a newcomer asking for a long answer
waits for its token allowance to refill (a quarter of a trusted peer's, refilled in ~12 s)."""

__all__ = ["MAX_ATTEMPTS", "CollabHooks", "Collaborator", "Job", "QueryContext", "Reply"]


@dataclass
class CollabHooks:
    """What the composition root plugs into collaboration: trust's peer filter and weight, and listeners on each answer."""

    peer_allowed: Callable[[str], bool] | None = None
    peer_weight: Callable[[str], float] | None = None
    after_answer: list[Callable[[Job, Answer], None]] = field(default_factory=list)


@dataclass(frozen=True)
class Reply:
    """One candidate's successful result, with what the modes compare."""

    candidate: Candidate
    result: TaskResult
    latency_ms: float
    cost: float
    confidence: float
    distribution: tuple[float, ...] | None = None
    choice: int | None = None

    def contribution(self, role: str = "answer") -> Contribution:
        """This reply as a provenance entry, with the ``role`` it played in the answer."""
        c = self.candidate
        return Contribution(c.peer_id, self.result.model or c.model, self.confidence, self.cost,
                            self.latency_ms, self.choice, self.result.text, role,
                            served_task_id=self.result.task_id.hex(),
                            citations=tuple(f"{x.doc}#{x.chunk}" for x in self.result.citations))

    def agrees_with(self, other: Reply) -> bool:
        """Same choice (multiple choice) or the same normalised text (generation): what votes and escalation compare."""
        if self.choice is not None:
            return self.choice == other.choice
        return normalise_answer(self.result.text) == normalise_answer(other.result.text)


@dataclass
class QueryContext:
    """Everything a mode needs about one query."""

    job: Job
    mode: str
    constraints: Constraints
    tactics: Tactics
    task_id: bytes
    deadline: float  # trio.current_time() at which the answer is useless
    started: float  # time.perf_counter() at arrival
    prompt_tokens: int
    max_tokens: int
    embedding: np.ndarray | None = None
    predictions: dict[str, float] = field(default_factory=dict)
    decision_ms: float = 0.0
    attempts: list[Attempt] = field(default_factory=list)
    router_note: str = ""
    quality: QualityView | None = None
    knowledge_weight: MatchWeight | None = None  # the knowledge match's weight for this query (learned)
    overall: dict[str, float] = field(default_factory=dict)
    """Each model's overall labelled accuracy, filled while the query cannot be embedded yet
    (embedder loading): routing keeps the ad prior then, but escalation still reads evidence."""

    @property
    def evidence(self) -> dict[str, float]:
        """P(correct) per model that escalation compares: the per-query predictions, else the
        models' overall labelled accuracy (empty only on a true cold start)."""
        return self.predictions or self.overall

    @property
    def remaining_s(self) -> float:
        """Seconds left before the answer is useless."""
        return self.deadline - trio.current_time()

    @property
    def elapsed_ms(self) -> float:
        """Milliseconds since the query arrived."""
        return (time.perf_counter() - self.started) * 1000


class Collaborator:
    """Runs one query in a mode: candidates, router, asking peers, provenance (everything the modes share)."""

    def __init__(
        self,
        *,
        candidates: Callable[[], list[Candidate]],
        execute_local: ExecuteLocal,
        request_remote: RequestRemote,
        on_evidence: EvidenceSink,
        router: RouterHolder | None = None,
        embedder: QueryEmbedder | None = None,
        negotiator: object | None = None,
        quality: QualityMemory | None = None,
    ) -> None:
        self._candidates = candidates
        self._execute_local = execute_local
        self._request_remote = request_remote
        self._on_evidence = on_evidence
        self.router = router if router is not None else RouterHolder(None)
        self.embedder = embedder
        self.quality = quality if quality is not None else QualityMemory(None)
        self.negotiator = negotiator  # an Auctioneer (negotiation.py) once the host runs
        self.knowledge_value = KnowledgeWeight(DEFAULT_KNOWLEDGE_WEIGHT)  # the knowledge match's weight, learned
        self.hooks = CollabHooks()
        self.backoff = PeerBackoff()
        self.in_flight = InFlight()
        """Requests this node has sent to each peer and not yet got back (load before ads show it)."""
        self.cheap_margin = DEFAULT_CHEAP_MARGIN
        """``[router] cheap_margin``: the cost term when neither the request nor a calibration sets lambda."""
        self.checks_peers = False
        """Whether this node verifies peers itself (canaries, probes, idle learning): then a peer's
        answer is delivered unchecked only with evidence of this node's own (collab/vouching.py)."""

    @property
    def knowledge_weight(self) -> float:
        """The configured utility weight of the knowledge match: the prior that labelled answers move."""
        return self.knowledge_value.prior_weight

    @knowledge_weight.setter
    def knowledge_weight(self, weight: float) -> None:
        """Set the prior weight of the knowledge match."""
        self.knowledge_value = KnowledgeWeight(weight)

    def candidates(self) -> list[Candidate]:
        """Every candidate right now (this node and peers with fresh ads), before constraints."""
        return self._candidates()

    # ------------------------------------------------------------------ entry point
    async def run(
        self,
        job: Job,
        *,
        mode: str = "auto",
        constraints: Constraints = NO_CONSTRAINTS,
        timeout_s: float = 60.0,
        tactics: Tactics = NO_TACTICS,
    ) -> Answer:
        """Answer ``job`` in ``mode`` within ``timeout_s``: rank candidates, run the mode, record the answer."""
        if mode not in MODES:
            raise CollaborationError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        runner = runner_for("auction" if tactics.negotiate and mode in NEGOTIABLE else mode)
        if mode == "local":
            constraints = constraints.with_local_only()
        if mode == "auction":
            tactics = replace(tactics, negotiate=True)
        prompt_tokens, max_tokens = job_tokens(job)
        ctx = QueryContext(job, mode, constraints, tactics, new_task_id(), trio.current_time() + timeout_s,
                           time.perf_counter(), prompt_tokens, max_tokens)
        estimates = await self.decide(ctx)
        note_decision(ctx)  # a streamed answer: live tokens unless the mode may still escalate
        answer = await runner(self, ctx, estimates)
        answer = replace(
            answer,
            task_id=ctx.task_id.hex(),
            decision_ms=round(ctx.decision_ms, 3),
            router="learned" if ctx.predictions else (ctx.router_note or "prior"),
            considered=tuple(e.to_json() for e in estimates[:8]),
            query_embedding=ctx.embedding,
        )
        for hook in self.hooks.after_answer:
            try:
                hook(job, answer)
            except Exception:
                log.exception("after_answer hook failed")
        return answer

    # ------------------------------------------------------------------ deciding
    async def decide(self, ctx: QueryContext) -> list[Estimate]:
        """Feasible candidates with estimates, best utility first (or by prior when cold)."""
        started = time.perf_counter()
        pool = self.in_flight.apply(self._candidates())
        pinned = ctx.constraints.peer
        pool = [c for c in pool if c.is_local or c.peer_id == pinned or not self.backoff.waiting(c.peer_id)]
        if self.hooks.peer_allowed is not None:
            allowed = [c for c in pool if self.hooks.peer_allowed(c.peer_id)]
            if pool and not allowed:
                raise InfeasibleConstraints("trust", "every candidate is untrusted by this node")
            pool = allowed
        ok = feasible(pool, ctx.constraints, prompt_tokens=ctx.prompt_tokens, max_tokens=ctx.max_tokens)
        ranking = await self._assess_quality(ctx, {c.model for c in ok})
        matched = await knowledge_match(self.embedder, ctx, ok)
        if matched and ctx.embedding is not None:
            ctx.knowledge_weight = self.knowledge_value.learned(ctx.embedding, self.quality, ok, self.router)
        cost_weight = self.cost_weight(ctx.tactics)
        estimates = estimate(ok, ctx.predictions, prompt_tokens=ctx.prompt_tokens, max_tokens=ctx.max_tokens,
                             cost_weight=cost_weight, cheap_margin=self.cheap_margin,
                             peer_weight=self.hooks.peer_weight, ranking=ranking,
                             knowledge_match=matched, knowledge_weight=(ctx.knowledge_weight.weight if ctx.knowledge_weight
                                                                        else self.knowledge_weight))
        if not ctx.predictions and not matched:  # cold start: the ad prior decides the order
            order = {c.peer_id: i for i, c in enumerate(rank_by_prior(ok, prompt_tokens=ctx.prompt_tokens,
                                                                      max_tokens=ctx.max_tokens))}
            estimates.sort(key=lambda e: order[e.candidate.peer_id])
        elif ctx.quality is not None:  # a thin-evidence model's exploration share: it goes first this time
            estimates = lead_with(estimates, ctx.quality.first)
        estimates = require_quality(estimates, ctx.constraints.min_quality)
        ctx.decision_ms = (time.perf_counter() - started) * 1000
        return estimates

    async def _assess_quality(self, ctx: QueryContext, models: set[str]) -> dict[str, float]:
        """Fill ``ctx.predictions`` (P(correct) per model) from the heads and labelled rows.

        Returns what the utility ranks by: the predictions, with a Thompson draw for models
        the router knows little about when the request explores (route and auto). Empty
        (cold start: the ad prior decides) without a trained head or any labelled row, and
        while the embedder loads (a question never waits for torch).
        """
        await self.quality.sync()
        heads = self.router.trained_heads()
        if not (heads or self.quality.has_evidence()) or self.embedder is None:
            return {}
        if not self.embedder.ready:
            self.embedder.request_load()
            ctx.router_note = "prior (embedder loading)"
            ctx.overall = self.quality.overall_accuracy(models)
            return {}
        ctx.embedding = await self.embedder.embed(query_text(ctx.job))
        head_means = self.router.predict(ctx.embedding) if heads else {}
        explore = ctx.tactics.explore and ctx.mode in ("route", "auto")
        view = self.quality.assess(ctx.embedding, models, head_means=head_means, explore=explore)
        ctx.quality = view
        ctx.predictions = view.means
        return dict(view.ranking)

    def cost_weight(self, tactics: Tactics) -> float | None:
        """Lambda of the cost term: the request's tactic, else the calibrated one, else None
        (then ``cheap_margin`` prices cost: the cheap model wherever it is within the margin)."""
        if tactics.cost_weight is not None:
            return tactics.cost_weight
        return self.router.calibration.cost_weight

    def threshold(self, tactics: Tactics, model: str, kind: str) -> tuple[float, str]:
        """(threshold, where it came from) for a cascade step on ``model``."""
        if tactics.threshold is not None:
            return tactics.threshold, "request"
        calibrated = self.router.calibration.threshold(model, kind)
        if calibrated is not None:
            return calibrated, "calibrated"
        return DEFAULT_THRESHOLDS[kind], "default"

    # ------------------------------------------------------------------ asking
    async def ask_first(
        self,
        ctx: QueryContext,
        candidates: Sequence[Candidate],
        *,
        job: Job | None = None,
        task_id: bytes | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> Reply | None:
        """Ask candidates in order until one answers (None if all fail or time runs out).

        When every one refused only for now (busy, rate-limited) and the soonest ``retry_after``
        leaves time for an answer (and fits ``budget_ms``), that peer is asked again after
        waiting it out, up to MAX_RETRY_WAITS times and MAX_RETRY_WAIT_S in all: a user pinned
        to a peer, or with one candidate, gets a later answer rather than an error.
        """
        tried = list(candidates)[:max_attempts]
        first_attempt = len(ctx.attempts)
        for candidate in tried:
            if ctx.remaining_s <= 0.05:
                break
            reply = await self.ask_one(ctx, candidate, job=job, task_id=task_id)
            if reply is not None:
                return reply
        if task_id is not None:  # a negotiated task id is the peer's contract: not re-sent
            return None
        waited_s = 0.0
        for _ in range(MAX_RETRY_WAITS):
            retry = _soonest_retry(ctx.attempts[first_attempt:], tried)
            if retry is None:
                return None
            candidate, wait_s = retry
            if waited_s + wait_s > min(MAX_RETRY_WAIT_S, ctx.remaining_s / 2):
                return None
            budget_ms = ctx.constraints.budget_ms
            if budget_ms is not None and ctx.elapsed_ms + wait_s * 1000 > budget_ms:
                return None  # the user's latency budget rules out waiting
            await trio.sleep(wait_s)
            waited_s += wait_s
            first_attempt, tried = len(ctx.attempts), [candidate]  # only its latest refusal says when
            reply = await self.ask_one(ctx, candidate, job=job)
            if reply is not None:
                return reply
        return None

    async def ask_many(self, ctx: QueryContext, plan: Sequence[tuple[Candidate, Job]]) -> list[Reply]:
        """Ask several candidates at once; returns the replies that arrived, in plan order."""
        slots: list[Reply | None] = [None] * len(plan)

        async def one(i: int, candidate: Candidate, job: Job) -> None:
            slots[i] = await self.ask_one(ctx, candidate, job=job)

        async with trio.open_nursery() as nursery:
            for i, (candidate, job) in enumerate(plan):
                nursery.start_soon(one, i, candidate, job)
        return [r for r in slots if r is not None]

    async def ask_one(self, ctx: QueryContext, candidate: Candidate, *, job: Job | None = None,
                      task_id: bytes | None = None) -> Reply | None:
        """Ask one candidate; the attempt is kept on ``ctx``, a failure returns None (the mode moves on)."""
        job = job or ctx.job
        result, attempt = await self.attempt(job, candidate, ctx.remaining_s, task_id=task_id)
        ctx.attempts.append(attempt)
        if result is None:
            return None
        return make_reply(job, candidate, result, attempt.latency_ms)

    async def attempt(self, job: Job, candidate: Candidate, timeout_s: float, *,
                      task_id: bytes | None = None, credit: bool = True) -> tuple[TaskResult | None, Attempt]:
        """One call to one candidate; failures become an ``Attempt`` and trust evidence, never exceptions.

        ``credit=False``: an answer on time earns the peer no ``task_ok`` evidence (work whose
        answer this node judges itself, such as idle learning, must not vouch for a liar that
        merely answers fast); failures still count against it.
        """
        req = job.to_request(max(timeout_s, 0.05), task_id=task_id)
        started = time.perf_counter()
        outcome, detail, retry_after_ms = "ok", "", 0
        result: TaskResult | None = None
        try:
            if candidate.is_local:
                reply = await self._execute_local(req)
                if isinstance(reply, TaskRefusal):
                    outcome, detail, retry_after_ms = f"refused:{reply.reason}", reply.detail, reply.retry_after_ms
                else:
                    result = reply
            else:
                with self.in_flight.track(candidate.peer_id):
                    result = await self._request_remote(candidate.peer_id, req)
        except TaskRefused as exc:
            outcome, detail, retry_after_ms = f"refused:{exc.reason}", str(exc), exc.retry_after_ms
            kind = Evidence.REFUSAL_BUSY if exc.reason in BACK_PRESSURE else Evidence.REFUSAL_OTHER
            self._on_evidence(EvidenceEvent(candidate.peer_id, kind, str(exc)))
            self.backoff.note(candidate.peer_id, exc.retry_after_ms)
        except PeerTimeout as exc:
            outcome, detail = "timeout", str(exc)
            self._on_evidence(EvidenceEvent(candidate.peer_id, Evidence.TIMEOUT, str(exc)))
        except BadReply as exc:
            outcome, detail = "bad_reply", str(exc)
        except PeerUnreachable as exc:
            outcome, detail = "unreachable", str(exc)
            self._on_evidence(EvidenceEvent(candidate.peer_id, Evidence.TIMEOUT, str(exc)))
        except PeerCallError as exc:
            outcome, detail = "failed", str(exc)
            self._on_evidence(EvidenceEvent(candidate.peer_id, Evidence.TIMEOUT, str(exc)))
        latency_ms = (time.perf_counter() - started) * 1000
        if result is not None and job.kind == "score" and len(result.scores) != len(job.continuations):
            outcome, detail = "bad_reply", f"{len(result.scores)} scores for {len(job.continuations)} choices"
            self._on_evidence(EvidenceEvent(candidate.peer_id, Evidence.PROTOCOL_VIOLATION, detail,
                                            ViolationKind.SCHEMA, ViolationSource.REPLY))
            result = None
        if result is not None and not candidate.is_local and (credit or now_ms() > req.deadline_ms):
            late = now_ms() > req.deadline_ms
            kind = Evidence.TASK_LATE if late else Evidence.TASK_OK
            self._on_evidence(EvidenceEvent(candidate.peer_id, kind, f"{latency_ms:.0f} ms"))
        if outcome != "ok":
            log.info("attempt failed", extra={"peer": candidate.peer_id, "outcome": outcome})
        return result, Attempt(candidate.peer_id, candidate.model, outcome, latency_ms, detail[:300], retry_after_ms)

    # ------------------------------------------------------------------ answers
    def answer(
        self,
        ctx: QueryContext,
        final: Reply,
        *,
        reason: str,
        others: Sequence[Reply] = (),
        escalated: bool = False,
        scores: Sequence[tuple[float, int]] | None = None,
        confidence: float | None = None,
        choice: int | None = None,
        text: str | None = None,
        mode: str | None = None,
        extra_cost: float = 0.0,
        negotiation_ms: float | None = None,
    ) -> Answer:
        """An Answer whose provenance lists ``final`` and every other reply used, with roles."""
        contributions = [final.contribution("answer")]
        for r in others:
            role = "answer" if r.agrees_with(final) else ("dissent" if r.choice is not None else "other")
            contributions.append(r.contribution(role))
        result = final.result
        return Answer(
            text=result.text if text is None else text,
            mode=mode or (ctx.mode if ctx.mode != "auto" else "auto"),
            answered_by=final.candidate.peer_id,
            model=result.model or final.candidate.model,
            confidence=final.confidence if confidence is None else confidence,
            cost=final.cost + sum(r.cost for r in others) + extra_cost,
            latency_ms=round(ctx.elapsed_ms, 1),
            escalated=escalated,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            finish_reason=result.finish_reason,
            attempts=tuple(ctx.attempts),
            reason=reason,
            scores=tuple(scores) if scores is not None else tuple((s.logprob, s.n_tokens) for s in result.scores),
            choice=final.choice if choice is None else choice,
            contributions=tuple(contributions),
            negotiation_ms=negotiation_ms,
        )

    @staticmethod
    def failed(ctx: QueryContext, what: str = "no candidate answered") -> AllCandidatesFailed:
        """The error when no candidate answered, naming each attempt's outcome."""
        details = "; ".join(f"{a.peer_id[:12]}…: {a.outcome} {a.detail}" for a in ctx.attempts) or "deadline reached"
        return AllCandidatesFailed(f"{what} ({details})")


def make_reply(job: Job, candidate: Candidate, result: TaskResult, latency_ms: float) -> Reply:
    """A successful result as a Reply: its cost, confidence and (multiple choice) distribution."""
    if job.kind == "score":
        tokens = estimate_tokens(job.text) + sum(estimate_tokens(c) for c in job.continuations)
        scores = [(s.logprob, s.n_tokens) for s in result.scores]
        dist = tuple(choice_distribution(scores))
        return Reply(candidate, result, latency_ms, candidate.cost_per_1k * tokens / 1000,
                     mc_confidence(scores), dist, argmax(dist))
    tokens = result.prompt_tokens + result.completion_tokens
    return Reply(candidate, result, latency_ms, candidate.cost_per_1k * tokens / 1000, result.confidence)


def _soonest_retry(attempts: Sequence[Attempt], tried: Sequence[Candidate]) -> tuple[Candidate, float] | None:
    """The candidate whose "come back later" refusal ends first, and the seconds until then
    (None when no candidate refused that way: waiting for a dead or lying peer would not help)."""
    by_peer = {c.peer_id: c for c in tried}
    soonest: tuple[Candidate, float] | None = None
    for attempt in attempts:
        if attempt.outcome not in WAIT_AND_RETRY or attempt.retry_after_ms <= 0:
            continue
        candidate = by_peer.get(attempt.peer_id)
        wait_s = attempt.retry_after_ms / 1000 + 0.05
        if candidate is not None and (soonest is None or wait_s < soonest[1]):
            soonest = (candidate, wait_s)
    return soonest
