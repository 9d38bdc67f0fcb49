"""Verification that runs beside real questions: canaries and cross-checks.

After every answered question (the Collaborator's ``after_answer`` hook) a background
worker may

- send a **canary** (chance ``canary_rate``): a validation question in the same shape as
  the user's, to one remote peer, through the same ``Collaborator.attempt`` path (same
  message type, fields and deadline as a user's task). The least trusted askable peer
  goes first (newcomers and suspects; among equals the one claiming the strongest model,
  i.e. the one a router would most like to use), with some random picks so trusted
  peers keep being re-verified. Any validation item can be a canary. The reply is judged
  against the gold answer, and the verdict weighed by the sequential test against what
  the peer's *own model* is expected to get right (``ModelBaseline``, learned from every
  peer serving that model, the judged peer left out): an honest weak model is never
  taken for a liar. This node's own model answers each item once first (``run_local``:
  off any user's answer path, at the lowest queue priority; cached): that feeds its own
  model's baseline and tells how hard the item is (the expectation is conditioned on
  it). The confidence the peer claimed is checked for calibration. Every judged answer,
  local or remote, goes to ``on_outcome`` (labelled rows for the router).
- **cross-check** a peer's answer (chance ``cross_check_rate``, only when a remote peer
  answered, so a question never leaves the node because of verification alone): the
  same job goes to a second peer; if the two disagree, this node's own model is the
  third source and ``peermind.trust.cross_check`` decides whom to blame, never a
  better-reputed peer on the word of a worse one.

- **probe newcomers** (only the few this node is a prober of, or that nobody vouches for
  after a grace, ``_probe_share.py``): a peer's first STARTUP_PROBES probes go out at once, one every
  ~STARTUP_TICK_S (its first within a few seconds of its first ad, even while the node is
  busy, but only once this node has joined: no new peer's ad for a few seconds,
  ``p2p/settling.py``), so a fresh network has judged its peers within a minute; after that, only while
  the node is idle, one canary every ``trust.probe_interval_s`` (jittered) to the least trusted askable peer that is not yet
  trusted, at most PROBES_PER_PEER_FACTOR x ``probation_interactions`` per peer. Probing
  earns (or loses) a peer its routing weight and finds liars without a user's question
  at stake.

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
    SELF_SOURCE,
    CalibrationTracker,
    CanaryPolicy,
    Evidence,
    EvidenceRecord,
    KnownAnswerJudge,
    ModelBaseline,
    PeerAnswer,
    cross_check,
)

from ..collab.answer import Answer
from ..collab.candidates import Candidate
from ..collab.confidence import argmax, choice_distribution, normalise_answer
from ..collab.job import Job
from ._canary_deck import Canary, CanaryDeck, ProbeBudget, judge
from ._ledger import TrustLedger
from ._metrics import TrustMetrics
from ._outcome import CanaryOutcome, OutcomeSink, ignore_outcome
from ._ports import AttemptFn
from ._probe_share import ProbeShare

log = logging.getLogger("peermind.node.trust")

__all__ = ["Verification"]

QUEUE_SIZE = 16
WORKERS = 2
RANDOM_TARGET_SHARE = 0.2
PROBES_PER_PEER_FACTOR = 2
"""Idle probes per peer, in units of ``probation_interactions``: enough for an honest peer to
become trusted, bounded so a peer that stays in between is not probed forever."""
PROBE_JITTER = 0.5
STARTUP_PROBES = 3
"""A newcomer's first probes go out at the start-up pace, not the interval."""
STARTUP_TICK_S = 1.5
PROBE_SHAPE = Job(kind="score", prompt="Question:", continuations=(" A", " B"))
"""Idle probes have no user question to copy the shape of: multiple choice, the cheapest."""

RunLocal = Callable[[Job], Awaitable[TaskResult | None]]


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
        baseline: ModelBaseline | None = None,
        own_model: str = "",
        run_local: RunLocal | None = None,
        on_outcome: OutcomeSink = ignore_outcome,
        probe_budget: ProbeBudget | None = None,
        probe_share: ProbeShare | None = None,
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
        self.baseline = baseline if baseline is not None else ModelBaseline(own_model=own_model)
        self.known_answers = KnownAnswerJudge(ledger.params, self.baseline, should_ask)
        self.own_model = own_model
        self._run_local_fn = run_local
        self._on_outcome = on_outcome
        self.probe_budget = probe_budget  # None: unbounded (unit tests); the daemon bounds it (_canary_deck.py)
        self.probe_share = probe_share  # None: every peer is ours to probe (unit tests); see _probe_share.py

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
        """Flip the canary coin; on heads ask one peer a validation question."""
        if self._rng.random() >= self.canary_rate:
            return None
        deck = self.deck
        target = self.canary_target(self._not_probing(self.remote_candidates()))
        if target is None or deck is None:
            return None
        return await self._canary(like, deck, target)

    # ------------------------------------------------------------------ probing newcomers
    def probe_target(self, *, startup_only: bool = False) -> Candidate | None:
        """The peer most owed a probe (None when nobody is, or with ``startup_only`` no newcomer is).

        Only peers this node owes probes (``probe_share``: it is one of their few probers, or
        nobody vouches for them after a grace). Fewest probes first while any such peer has had fewer than STARTUP_PROBES; then the
        least trusted askable peer still below the trusted threshold (ties: biggest claim);
        then a peer excluded by canary verdicts alone (no violation, not banned), so an
        honest weak peer that had a bad streak can answer its way back (a liar only sinks
        further). Every peer gets at most PROBES_PER_PEER_FACTOR x probation_interactions.
        """
        book = self._ledger.book
        params = self._ledger.params
        limit = PROBES_PER_PEER_FACTOR * params.probation_interactions
        owed = [c for c in self._not_probing(self.remote_candidates())
                if book.score(c.peer_id) < params.trusted_threshold and self._probes.get(c.peer_id, 0) < limit]
        owed = self._ours(owed)
        fresh = [c for c in owed if self._probes.get(c.peer_id, 0) < STARTUP_PROBES]
        if fresh:
            return min(fresh, key=lambda c: (self._probes.get(c.peer_id, 0), *self._suspicion(c), c.peer_id))
        if startup_only:
            return None
        if owed:
            return min(owed, key=lambda c: (*self._suspicion(c), c.peer_id))
        redeemable = [c for c in self._candidates() if self._redeemable(c) and self._probes.get(c.peer_id, 0) < limit]
        return min(redeemable, key=lambda c: (-book.canary_llr(c.peer_id), c.peer_id)) if redeemable else None

    def _ours(self, owed: list[Candidate]) -> list[Candidate]:
        """The owed peers this node probes: those it is a prober of, and unvouched ones after the grace."""
        share = self.probe_share
        if share is None:
            return owed
        nodes = [c.peer_id for c in self._candidates()]
        return [c for c in owed if share.owes(c.peer_id, nodes)]

    def _redeemable(self, c: Candidate) -> bool:
        """Excluded by canary verdicts only: never banned, no protocol violation, no probe in flight."""
        book = self._ledger.book
        peer = c.peer_id
        return (not c.is_local and not self._should_ask(peer) and not book.is_banned(peer)
                and book.canary_llr(peer) < 0 and not book.counts(peer).get(Evidence.PROTOCOL_VIOLATION)
                and peer not in self._probing and not self._backing_off(peer))

    async def probe_once(self, *, startup_only: bool = False) -> Evidence | None:
        """One idle-time canary to ``probe_target()`` (None when nobody is owed one or no deck)."""
        deck = self.deck
        target = self.probe_target(startup_only=startup_only)
        if target is None or deck is None or (self.probe_budget is not None and not self.probe_budget.take()):
            return None
        self._probes[target.peer_id] = self._probes.get(target.peer_id, 0) + 1
        return await self._canary(PROBE_SHAPE, deck, target)

    async def probe_newcomers(self, interval_s: float, idle: Callable[[], bool],
                              joined: Callable[[], bool] = lambda: True) -> None:
        """Newcomers' first probes as soon as this node has ``joined()`` (busy or not: until a
        newcomer is judged, routing only explores it beside a proven peer where there is one), then, while ``idle()``,
        one every ~``interval_s`` (jittered).

        ``joined`` holds the start-up probes back while the network's ads still arrive
        (``p2p/settling.py``): a probe is model work on both ends (this node's own answer and
        the newcomer's), and in a network starting together that work took the cores the
        ads needed. Runs until cancelled.
        """
        tick = min(STARTUP_TICK_S, interval_s)
        next_regular = trio.current_time() + self._jittered(interval_s)
        while True:
            await trio.sleep(self._jittered(tick))
            if not joined():
                continue
            regular = idle() and trio.current_time() >= next_regular
            if regular:
                next_regular = trio.current_time() + self._jittered(interval_s)
            try:
                await self.probe_once(startup_only=not regular)
            except Exception:  # verification must never take the node down
                log.exception("probe failed")

    def _jittered(self, seconds: float) -> float:
        return seconds * (1 - PROBE_JITTER / 2 + PROBE_JITTER * self._rng.random())

    async def _canary(self, like: Job, deck: CanaryDeck, target: Candidate) -> Evidence | None:
        """One canary to ``target``; while it runs, no other canary of ours goes to that peer."""
        self._probing.add(target.peer_id)
        try:
            return await self._judged_canary(like, deck, target)
        finally:
            self._probing.discard(target.peer_id)

    def expected_accuracy(self, model: str, peer: str, choices: int, local_right: bool | None = None) -> float:
        """What an honest peer serving ``model`` should get right (``KnownAnswerJudge``)."""
        return self.known_answers.expected_accuracy(model, peer, choices, local_right)

    async def _judged_canary(self, like: Job, deck: CanaryDeck, target: Candidate) -> Evidence | None:
        item = self.policy.pick(target.peer_id, deck.usable(like.kind))
        if item is None:
            return None
        canary = deck.get(item.item_id)
        job = canary.job(like)
        local_right = deck.local_verdict(job.kind, canary.key)
        if local_right is None:
            local_right = await self.answer_one_locally(canary, job)
        result, attempt = await self._attempt(job, target, self.timeout_s)
        if result is None:  # timeout/refusal/bad reply: already recorded by attempt()
            self._metrics.canaries.labels(outcome="failed").inc()
            log.info("canary not answered", extra={"peer": target.peer_id, "outcome": attempt.outcome})
            return None
        verdict = judge(canary, job, result)
        model = target.model
        self.record_known_answer(target.peer_id, model, len(canary.choices), verdict.right, local_right,
                                 f"canary {canary.key}: answered {verdict.answer!r}, gold {canary.gold}")
        self._emit(CanaryOutcome(target.peer_id, model, job, canary.key, canary.item.dataset, verdict.right, False))
        flag = self.calibration.confidence_consistency(target.peer_id, verdict.confidence, verdict.right)
        if flag is not None:
            self._ledger.record(self._ledger.evidence(
                target.peer_id, flag,
                f"claimed confidence >= {self._ledger.params.calibration_high_confidence} "
                "on canaries it got wrong",
            ))
        return verdict.evidence

    def record_known_answer(self, peer: str, model: str, choices: int, right: bool, local_right: bool | None,
                            what: str) -> float:
        """Judge one answer to a question whose answer this node knows; returns the evidence's LLR.

        Canaries come through here, and so does any other known-answer work this node sends
        (the router's idle learning): the verdict is weighed against what an honest peer
        serving ``model`` is expected to get right, recorded as evidence and fed to the
        model's baseline. ``what`` names the item and the answer for ``trust explain``.
        """
        self._metrics.canaries.labels(outcome="right" if right else "wrong").inc()
        record = self.known_answers.judge(peer, model, choices, right, local_right, what, at=self._ledger.clock())
        self._ledger.record(record)
        return record.llr if record.llr is not None else 0.0

    def _emit(self, outcome: CanaryOutcome) -> None:
        try:
            self._on_outcome(outcome)
        except Exception:  # a listener's bug must not stop verification
            log.exception("canary outcome listener failed")

    # ------------------------------------------------------------------ this node's own answers
    async def answer_one_locally(self, canary: Canary, job: Job) -> bool | None:
        """This node's own model on ``canary`` (None if it could not answer): cached in the deck,
        fed to its model's baseline and to the outcome sink."""
        if self._run_local_fn is None:
            return None
        result = await self._run_local_fn(job)
        if result is None:
            return None
        right = judge(canary, job, result).right
        if self.deck is not None:
            self.deck.record_local(job.kind, canary.key, right)
        if self.own_model:
            self.baseline.add(self.own_model, SELF_SOURCE, right)
        self._emit(CanaryOutcome(self._self_id, self.own_model, job, canary.key, canary.item.dataset, right, True))
        return right

    def restore_local(self, deck: CanaryDeck) -> int:
        """Feed this node's cached own-model verdicts into its model's baseline (at start)."""
        if not self.own_model:
            return 0
        verdicts = deck.local_verdicts()
        for right in verdicts.values():
            self.baseline.add(self.own_model, SELF_SOURCE, right)
        return len(verdicts)

    async def _run_local(self, job: Job) -> TaskResult | None:
        """This node's model at the normal path (cross-checks' third source)."""
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
