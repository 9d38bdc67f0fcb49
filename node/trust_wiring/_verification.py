"""Verification that runs beside real questions: canaries and cross-checks.

After every answered question (the Collaborator's ``after_answer`` hook) a background
worker may

- send a **canary** (chance ``canary_rate``): a validation question in the same shape as
  the user's, to one remote peer, through the same ``Collaborator.attempt`` path (same
  message type, fields and deadline as a user's task). The least trusted askable peer
  goes first (newcomers and suspects; among equals the one claiming the strongest model,
  i.e. the one a router would most like to use), with some random picks so trusted
  peers keep being re-verified. The reply is judged against the gold answer and the
  confidence it claimed is checked for calibration.
- **cross-check** a peer's answer (chance ``cross_check_rate``, only when a remote peer
  answered, so a question never leaves the node because of verification alone): the
  same job goes to a second peer; if the two disagree, this node's own model is the
  third source and ``peermind.trust.cross_check`` decides whom to blame, never a
  better-reputed peer on the word of a worse one.

- **probe newcomers** (every ``trust.probe_interval_s`` while the node is idle): a canary
  to the least trusted askable peer that is not yet trusted, at most
  PROBES_PER_PEER_FACTOR x ``probation_interactions`` per peer. Routing weighs a peer by
  its reputation, so without this a fresh network would keep every question local until
  chance canaries had vouched for its peers; probing earns (or loses) that weight in idle
  time, without a user's question at stake.

The work is queued and bounded: when the queue is full, verification is skipped, never
the user's answer delayed.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Sequence

import trio
from peermind.protocol import TaskResult
from peermind.trust import (
    CalibrationTracker,
    CanaryPolicy,
    Evidence,
    EvidenceRecord,
    PeerAnswer,
    cross_check,
)

from ..collab.answer import Answer, Attempt
from ..collab.candidates import Candidate
from ..collab.confidence import argmax, choice_distribution, normalise_answer
from ..collab.job import Job
from ._canaries import CanaryDeck, judge
from ._ledger import TrustLedger
from ._metrics import TrustMetrics

log = logging.getLogger("peermind.node.trust")

__all__ = ["Verification"]

QUEUE_SIZE = 16
WORKERS = 2
SCREEN_TRIES = 4
RANDOM_TARGET_SHARE = 0.2
PROBES_PER_PEER_FACTOR = 2
"""Idle probes per peer, in units of ``probation_interactions``: enough for an honest peer to
become trusted, bounded so a peer that stays in between is not probed forever."""
PROBE_JITTER = 0.5
PROBE_SHAPE = Job(kind="score", prompt="Question:", continuations=(" A", " B"))
"""Idle probes have no user question to copy the shape of: multiple choice, the cheapest."""

AttemptFn = Callable[[Job, Candidate, float], Awaitable[tuple[TaskResult | None, Attempt]]]


def answer_key(job: Job, result: TaskResult) -> str | None:
    """What two answers must share to agree: the chosen option, or the normalised text."""
    if job.kind == "score":
        scores = [(s.logprob, s.n_tokens) for s in result.scores]
        if len(scores) != len(job.continuations) or not scores:
            return None
        return str(argmax(choice_distribution(scores)))
    return result.text


def _same(a: str, b: str) -> bool:
    return a == b or normalise_answer(a) == normalise_answer(b)


class Verification:
    """Schedules and judges canaries and cross-checks; see the module docstring."""

    def __init__(
        self,
        ledger: TrustLedger,
        metrics: TrustMetrics,
        *,
        attempt: AttemptFn,
        candidates: Callable[[], Sequence[Candidate]],
        should_ask: Callable[[str], bool],
        self_id: str,
        canary_rate: float,
        cross_check_rate: float,
        timeout_s: float,
        rng: random.Random | None = None,
        backing_off: Callable[[str], bool] = lambda _peer: False,
    ) -> None:
        self._ledger = ledger
        self._metrics = metrics
        self._attempt = attempt
        self._candidates = candidates
        self._should_ask = should_ask
        self._backing_off = backing_off
        self._self_id = self_id
        self._rng = rng or random.Random()
        self.canary_rate = canary_rate
        # The coin is flipped here per question; the policy only picks items (no repeats per peer).
        self.policy = CanaryPolicy(1.0, self._rng)
        self.cross_check_rate = cross_check_rate
        self.calibration = CalibrationTracker(ledger.params)
        self.timeout_s = timeout_s
        self.deck: CanaryDeck | None = None
        self._send, self._receive = trio.open_memory_channel[tuple[Job, Answer]](QUEUE_SIZE)
        self.skipped = 0
        self._probing: set[str] = set()
        self._probes: dict[str, int] = {}

    # ------------------------------------------------------------------ hook
    def after_answer(self, job: Job, answer: Answer) -> None:
        """Collaborator hook: queue the answered question for verification (never blocks)."""
        try:
            self._send.send_nowait((job, answer))
        except trio.WouldBlock:
            self.skipped += 1

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(WORKERS):
                nursery.start_soon(self._worker)
            task_status.started()

    async def _worker(self) -> None:
        async for job, answer in self._receive:
            try:
                await self.verify(job, answer)
            except Exception:  # verification must never take the node down
                log.exception("verification failed")

    async def verify(self, job: Job, answer: Answer) -> None:
        """One answered question: maybe a canary, maybe a cross-check (both independent)."""
        await self.maybe_canary(job)
        if answer.answered_by != self._self_id and self._rng.random() < self.cross_check_rate:
            await self.cross_check(job, answer)

    # ------------------------------------------------------------------ canaries
    def remote_candidates(self) -> list[Candidate]:
        return [c for c in self._candidates() if not c.is_local and self._should_ask(c.peer_id)
                and not self._backing_off(c.peer_id)]

    def _not_probing(self, remote: Sequence[Candidate]) -> list[Candidate]:
        """Peers without a canary of ours in flight: one check at a time leaves a newcomer's
        second task slot for user questions."""
        return [c for c in remote if c.peer_id not in self._probing]

    def canary_target(self, remote: Sequence[Candidate]) -> Candidate | None:
        """Usually the least trusted askable peer (ties: the biggest claim), sometimes any.

        Suspects are re-checked until they are cleared or excluded, newcomers are checked
        before proven peers, and a lure (an inflated ad) draws a canary early; a share of
        uniformly random picks keeps re-verifying peers that are already trusted.
        """
        if not remote:
            return None
        if self._rng.random() < RANDOM_TARGET_SHARE:
            return self._rng.choice(list(remote))
        shuffled = list(remote)
        self._rng.shuffle(shuffled)
        return min(shuffled, key=self._suspicion)

    def _suspicion(self, candidate: Candidate) -> tuple[float, float]:
        """Order for verification: least trusted first, then the biggest claimed model."""
        return round(self._ledger.book.score(candidate.peer_id), 3), -round(candidate.quality_prior, 3)

    def local_candidate(self) -> Candidate | None:
        return next((c for c in self._candidates() if c.is_local), None)

    async def maybe_canary(self, like: Job) -> Evidence | None:
        """Flip the canary coin; on heads ask one peer a screened validation question."""
        if self._rng.random() >= self.canary_rate:
            return None
        deck = self.deck
        target = self.canary_target(self._not_probing(self.remote_candidates()))
        if target is None or deck is None:
            return None
        return await self._canary(like, deck, target)

    # ------------------------------------------------------------------ probing newcomers
    def probe_target(self) -> Candidate | None:
        """The least trusted askable, idle peer still below the trusted threshold (ties: biggest claim)."""
        book = self._ledger.book
        params = self._ledger.params
        limit = PROBES_PER_PEER_FACTOR * params.probation_interactions
        owed = [c for c in self._not_probing(self.remote_candidates())
                if book.score(c.peer_id) < params.trusted_threshold and self._probes.get(c.peer_id, 0) < limit]
        if not owed:
            return None
        return min(owed, key=lambda c: (*self._suspicion(c), c.peer_id))

    async def probe_once(self) -> Evidence | None:
        """One idle-time canary to ``probe_target()`` (None when nobody is owed one or no deck)."""
        deck = self.deck
        target = self.probe_target()
        if target is None or deck is None:
            return None
        self._probes[target.peer_id] = self._probes.get(target.peer_id, 0) + 1
        return await self._canary(PROBE_SHAPE, deck, target)

    async def probe_newcomers(self, interval_s: float, idle: Callable[[], bool]) -> None:
        """Every ~``interval_s`` (jittered) while ``idle()``: one probe. Runs until cancelled."""
        while True:
            await trio.sleep(interval_s * (1 - PROBE_JITTER / 2 + PROBE_JITTER * self._rng.random()))
            if not idle():
                continue
            try:
                await self.probe_once()
            except Exception:  # verification must never take the node down
                log.exception("probe failed")

    async def _canary(self, like: Job, deck: CanaryDeck, target: Candidate) -> Evidence | None:
        """One canary to ``target``; while it runs, no other canary of ours goes to that peer."""
        self._probing.add(target.peer_id)
        try:
            return await self._judged_canary(like, deck, target)
        finally:
            self._probing.discard(target.peer_id)

    async def _judged_canary(self, like: Job, deck: CanaryDeck, target: Candidate) -> Evidence | None:
        canary = None
        for _ in range(SCREEN_TRIES):  # items this node's own model gets wrong are skipped
            item = self.policy.pick(target.peer_id, deck.usable(like.kind))
            if item is None:
                return None
            candidate = deck.get(item.item_id)
            if await deck.screen(candidate, like, self._run_local):
                canary = candidate
                break
            self._metrics.canaries.labels(outcome="unusable").inc()
        if canary is None:
            return None
        job = canary.job(like)
        result, attempt = await self._attempt(job, target, self.timeout_s)
        if result is None:  # timeout/refusal/bad reply: already recorded by attempt()
            self._metrics.canaries.labels(outcome="failed").inc()
            log.info("canary not answered", extra={"peer": target.peer_id, "outcome": attempt.outcome})
            return None
        verdict = judge(canary, job, result)
        self._metrics.canaries.labels(outcome="right" if verdict.right else "wrong").inc()
        detail = f"canary {canary.key}: answered {verdict.answer!r}, gold {canary.gold}"
        self._ledger.record(self._ledger.evidence(target.peer_id, verdict.evidence, detail))
        flag = self.calibration.confidence_consistency(target.peer_id, verdict.confidence, verdict.right)
        if flag is not None:
            self._ledger.record(self._ledger.evidence(
                target.peer_id, flag,
                f"claimed confidence >= {self._ledger.params.calibration_high_confidence} "
                "on canaries it got wrong",
            ))
        return verdict.evidence

    async def _run_local(self, job: Job) -> TaskResult | None:
        local = self.local_candidate()
        if local is None:
            return None
        result, _attempt = await self._attempt(job, local, self.timeout_s)
        return result

    # ------------------------------------------------------------------ cross-checks
    async def cross_check(self, job: Job, answer: Answer) -> list[EvidenceRecord]:
        """Ask a second peer; on disagreement let this node's own model decide."""
        first = answer.answered_by
        first_key = self._answer_of(job, answer)
        others = [c for c in self.remote_candidates() if c.peer_id != first]
        if first_key is None or not others:
            self._metrics.cross_checks.labels(outcome="skipped").inc()
            return []
        second = self._rng.choice(others)
        result, _attempt = await self._attempt(job, second, self.timeout_s)
        second_key = answer_key(job, result) if result is not None else None
        if second_key is None:
            self._metrics.cross_checks.labels(outcome="failed").inc()
            return []
        if _same(first_key, second_key):
            self._metrics.cross_checks.labels(outcome="agree").inc()
            return []
        third = await self._run_local(job)
        third_key = answer_key(job, third) if third is not None else None
        if third_key is None:
            self._metrics.cross_checks.labels(outcome="undecided").inc()
            return []
        records = cross_check(
            PeerAnswer(first, first_key), PeerAnswer(second.peer_id, second_key),
            PeerAnswer(None, third_key), self._ledger.book, at=self._ledger.clock(), same=_same,
        )
        for record in records:
            self._ledger.record(record)
        self._metrics.cross_checks.labels(outcome="blamed" if records else "undecided").inc()
        return records

    @staticmethod
    def _answer_of(job: Job, answer: Answer) -> str | None:
        """The answering peer's own answer (its contribution, else the delivered answer)."""
        own = next((c for c in answer.contributions if c.peer_id == answer.answered_by), None)
        if job.kind == "score":
            choice = own.choice if own is not None and own.choice is not None else answer.choice
            if choice is None and answer.scores:
                choice = argmax(choice_distribution(list(answer.scores)))
            return None if choice is None else str(choice)
        text = own.text if own is not None and own.text else answer.text
        return text or None
