"""The node's collaboration runtime in one object: router, embedder, policies, negotiation,
feedback and seeding, wired to the daemon through a handful of callables.

The daemon builds one ``Collaboration``, calls ``attach(...)`` once its libp2p host is
up (to serve ``/peermind/negotiate/1.0.0``), runs ``run()`` in its nursery (feedback
writer, seed jobs, optional embedder warm-up) and answers questions with ``ask()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from peermind.protocol import Envelope, Message, Signer, TaskRefusal, Verifier
from peermind.trust import EvidenceSink

from ..p2p.streams import StreamEndpoint
from ..store import Store
from .answer import Answer
from .candidates import Candidate
from .constraints import NO_CONSTRAINTS, NO_TACTICS, Constraints, Tactics
from .embedding import QueryEmbedder
from .errors import CollaborationError
from .feedback import FeedbackRecorder, LabelledOutcome, mark_task
from .job import Job
from .learning import IdleLearner
from .negotiation import NEGOTIATE_PROTOCOL, Auctioneer, Bidder
from .policy import Collaborator, ExecuteLocal, RequestRemote
from .quality import QualityMemory
from .router_state import RouterHolder
from .seed import SeedPlan, SeedProgress, SeedRunner

log = logging.getLogger("peermind.node.collab")


@dataclass(frozen=True)
class LearningSettings:
    """Idle learning (``[router]`` config): what to ask, how often, when to stop, when idle."""

    datasets: tuple[str, ...]
    interval_s: float
    max_rows: int
    idle: Callable[[], bool]
    on_verdict: Callable[[LabelledOutcome], None] | None = None
    """Also told every outcome (the trust layer judges peers' known-answer replies)."""


class Collaboration:
    """Collaboration as the daemon runs it: the collaborator, feedback, seeding and negotiation, built once."""

    def __init__(
        self,
        *,
        store: Store,
        my_id: str,
        candidates: Callable[[], list[Candidate]],
        local_candidate: Callable[[], Candidate],
        execute_local: ExecuteLocal,
        request_remote: RequestRemote,
        on_evidence: EvidenceSink,
        gate: Callable[[str], TaskRefusal | None] | None = None,
        max_tokens: int = 1024,
        embedder: QueryEmbedder | None = None,
        learning: LearningSettings | None = None,
    ) -> None:
        self._store = store
        self._my_id = my_id
        self._on_evidence = on_evidence
        self.router = RouterHolder(store)
        self.embedder = embedder or QueryEmbedder()
        self.quality = QualityMemory(store, peer_filter=self._askable)
        self.collaborator = Collaborator(
            candidates=candidates,
            execute_local=execute_local,
            request_remote=request_remote,
            on_evidence=on_evidence,
            router=self.router,
            embedder=self.embedder,
            quality=self.quality,
        )
        self.bidder = Bidder(local_candidate=local_candidate, router=self.router, max_tokens=max_tokens, gate=gate)
        self.recorder = FeedbackRecorder(store, self.embedder)
        self.seeder = SeedRunner(store=store, router=self.router, embedder=self.embedder,
                                 candidates=candidates, attempt=self.collaborator.attempt)
        self.after_mark: list[Callable[[str, bool], object]] = []  # (task_id, correct): tell the peers
        self._nursery: trio.Nursery | None = None
        self.learner: IdleLearner | None = None
        if learning is not None:
            self.learner = IdleLearner(
                collaborator=self.collaborator, store=store, quality=self.quality,
                submit=self._learned_sink(learning.on_verdict), datasets=learning.datasets,
                interval_s=learning.interval_s, max_rows=learning.max_rows, idle=learning.idle,
            )

    def _learned_sink(self, on_verdict: Callable[[LabelledOutcome], None] | None) -> Callable[[LabelledOutcome], None]:
        def sink(outcome: LabelledOutcome) -> None:
            self.recorder.submit_outcome(outcome)
            if on_verdict is not None:
                on_verdict(outcome)

        return sink

    def _askable(self, peer: str) -> bool:
        """Rows of peers the trust hook rules out (caught liars) do not teach the router."""
        allowed = self.collaborator.hooks.peer_allowed
        return allowed is None or peer == self._my_id or allowed(peer)

    # ------------------------------------------------------------------ lifecycle
    def attach(self, host: IHost, signer: Signer, verifier: Verifier, *, max_frame_bytes: int, read_timeout_s: float) -> None:
        """Serve negotiation on the running host and let auctions call peers."""
        endpoint = StreamEndpoint(host, NEGOTIATE_PROTOCOL, signer, verifier, max_frame_bytes=max_frame_bytes,
                                  read_timeout_s=read_timeout_s, on_evidence=self._on_evidence)

        async def handle(envelope: Envelope, peer: str) -> Message:
            return await self.bidder.handle(envelope, peer, self._my_id)

        endpoint.serve(handle)

        async def call(peer: str, body: Message, timeout_s: float) -> Envelope:
            return await endpoint.call(ID.from_base58(peer), body, timeout_s=timeout_s)

        self.collaborator.negotiator = Auctioneer(call=call, bidder=self.bidder, my_id=self._my_id)

    async def run(self, *, warm_embedder: bool = False, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the feedback recorder (and warm the embedder) until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.recorder.run)
            await nursery.start(self.embedder.loader)
            if warm_embedder:
                self.embedder.request_load()
            if self.learner is not None:
                nursery.start_soon(self.learner.run)
            task_status.started()
            await trio.sleep_forever()

    # ------------------------------------------------------------------ questions
    async def ask(self, job: Job, *, mode: str = "auto", constraints: Constraints = NO_CONSTRAINTS,
                  timeout_s: float = 60.0, tactics: Tactics = NO_TACTICS) -> Answer:
        """Answer ``job`` in ``mode`` under ``constraints``; see Collaborator.run."""
        answer = await self.collaborator.run(job, mode=mode, constraints=constraints, timeout_s=timeout_s, tactics=tactics)
        self.recorder.submit(job, answer)
        return answer

    # ------------------------------------------------------------------ router
    def start_seed(self, plan: SeedPlan) -> SeedProgress:
        """Start seeding the router with ``plan`` (``peermind router seed``)."""
        if self._nursery is None:
            raise CollaborationError("the node is not running yet")
        return self.seeder.start(self._nursery, plan)

    async def wait_seed(self) -> SeedProgress:
        """The seeding progress once the current run has finished."""
        return await self.seeder.wait()

    async def calibrate(self, target_escalation: float | None, target_share: float) -> dict[str, object]:
        """New escalation thresholds and cost weight from the stored validation rows."""
        return await self.seeder.recalibrate(target_escalation, target_share)

    def mark(self, task_id: str, correct: bool) -> dict[str, int]:
        """Record whether the answer of ``task_id`` was correct (``peermind feedback``)."""
        marked = mark_task(self._store, task_id, correct)
        for hook in self.after_mark:
            hook(task_id, correct)
        return marked

    def status(self) -> dict[str, object]:
        """Router, seeding and feedback state, for the API."""
        rows = self._store.feedback_rows()
        by_mode: dict[str, int] = {}
        for r in rows:
            by_mode[r.mode or ""] = by_mode.get(r.mode or "", 0) + 1
        return {
            "router": self.router.status(),
            "seed": self.seeder.progress.to_json(),
            "feedback": {
                "rows": len(rows),
                "labelled": sum(1 for r in rows if r.correct is not None),
                "by_mode": by_mode,
                "recorded_this_run": self.recorder.recorded,
                "labelled_this_run": self.recorder.labelled,
                "dropped_this_run": self.recorder.dropped,
            },
            "embedder": {"loaded": self.embedder.loaded, "load_s": self.embedder.load_s},
            "quality_memory": self.quality.status(),
            "idle_learning": None if self.learner is None else {
                "items_done": self.learner.items_done, "asked": self.learner.asked},
            "negotiation": {"bids_made": self.bidder.bids_made, "awards_won": self.bidder.awards_won},
        }
