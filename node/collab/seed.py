"""Seeding a fresh network's router from benchmark ground truth, through the network.

A new network has no feedback. This node asks every model on the network (through its
peers' task protocol, exactly like real queries) to score the TRAIN split of real
multiple-choice benchmarks, records one feedback row per (question, model) with whether
the model's pick was right, does the same on a slice of the VALIDATION split, fits the
router on the train rows, and tunes the cascade thresholds and the route cost weight on
the validation rows. Rows stay in this node's store; only the fitted weights are used
(and later shared by federated training).

Re-running skips (question, model) pairs already recorded, so a bigger ``limit`` only
adds the new items. Items: ``peermind.bench.load_items(dataset, split, limit)``, or the
user's own multiple-choice items (``router seed --data FILE.jsonl``, ``SeedPlan.items``).

Every peer that answered learns how it did: each judged remote answer is reported to
``report_outcome(peer, task_id, correct, split)`` (the outcome protocol, which gives the
peer a labelled row of its own), so federated training finds every participant with data.

Speed: each peer gets as many requests in flight as it advertises it can run (this node's
own model one more, waiting in its queue; at most MAX_IN_FLIGHT), request starts are spaced by what its refusals said (``retry_after``),
and train rows come first, then validation rows, then the generation calibration. The
questions are embedded in one batch while the peers already score (loading the embedder
took 25-110 s on the loaded 2-core machine); answers wait for their embedding to be stored.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import trio
from peermind.federated import FeatureSchema, FeedbackRow, RouterModel
from peermind.protocol import TaskResult

from ..errors import NodeError
from ..labelled_rows import SEED_MODE
from ..store import FeedbackRecord, Store
from .answer import Attempt
from .calibration import (
    ESCALATION_BAND,
    cascade_outcome,
    choose_cost_weight,
    choose_escalation_rate,
    escalation_thresholds,
    fit_router,
    group_queries,
    relative_costs,
    routing_report,
)
from .candidates import Candidate
from .confidence import mc_confidence
from .embedding import QueryEmbedder, query_text
from .errors import SeedDataInvalid, SeedError, SeedInProgress
from .job import Job
from .router_state import (
    DEFAULT_SCHEMA,
    Calibration,
    RouterHolder,
    training_rows,
)

if TYPE_CHECKING:
    from peermind.bench import Item

log = logging.getLogger("peermind.node.collab.seed")

TASK_TIMEOUT_S = 120.0
MAX_TASK_TIMEOUT_S = 960.0
"""A peer that refuses a seed task as unable to meet its deadline (its speed, measured on a
loaded machine, looks hopeless) is given twice the time, up to this: a background run can
wait, and the peer's estimate improves once it does real work."""
MAX_CONSECUTIVE_FAILURES = 3
DEFAULT_TARGET_ESCALATION: float | None = None  # None: the best rate in ESCALATION_BAND on validation
DEFAULT_TARGET_SHARE = 0.5
GENERATE_MAX_TOKENS = 16
BACK_OFF = ("refused:busy", "refused:rate_limited")
MIN_BACK_OFF_S = 0.5
MAX_IN_FLIGHT = 2
"""Requests in flight to this node's own model: the one it runs plus one waiting in its
queue, so the next item starts the moment the last one ends. A peer gets what it says it
runs at once (``max_concurrency``, 1 by default) and no more: a node lets a newcomer run
two tasks at a time, and the second is for the asking node's user questions and probes."""
GAP_DECAY = 0.95
"""After each answer the gap between request starts shrinks by this factor: the pace creeps
back towards the peer's allowance instead of staying at the slowest it ever needed."""
GAP_GROWTH = 2.0
"""Each refusal at least doubles the gap (AIMD): a newcomer's allowance (0.5 requests/s)
refills in steps smaller than its interval, so the wait one refusal asks for can be too
short. With GAP_DECAY that is one refusal per ~14 answers, far below the 2x-allowance
tier that a node records as flooding (measured with a gap of only the wait asked for:
161 refusals for ~430 answers, and 5 flood records against the seeding node)."""
SPLIT_ORDER = {"train": 0, "validation": 1, "generate": 2}
RESERVED_WAIT_S = 0.2
"""How often a slot whose model's remaining train items are kept for another peer looks again."""
MAX_USER_ITEMS = 20_000
RECENT_ROWS = 20

Attempter = Callable[[Job, Candidate, float], Awaitable[tuple[TaskResult | None, Attempt]]]  # Collaborator.attempt
ReportOutcome = Callable[[str, bytes, bool, str], None]  # (peer, task_id, correct, "train" | "validation")


@dataclass(frozen=True)
class SeedPlan:
    """What to seed: benchmark datasets (or the user's items), how many items, and the calibration targets."""

    datasets: tuple[str, ...]
    limit: int = 100
    validation_limit: int = 50
    generation_items: int = 10  # per dataset, for the generation threshold
    target_escalation: float | None = DEFAULT_TARGET_ESCALATION
    target_share: float = DEFAULT_TARGET_SHARE
    items: tuple[tuple[str, Item], ...] = ()  # the user's own (split, bench Item) pairs

    def describe(self) -> dict[str, object]:
        """The plan as progress shows it (the user's items by count)."""
        return {**self.__dict__, "items": len(self.items)}


@dataclass
class _Work:
    item_id: str
    job: Job
    split: str  # train | validation | generate
    key: tuple[str, str]  # (split, item id): its question's embedding
    gold: int | None = None
    tries: int = 0


@dataclass
class SeedProgress:
    """A seeding run's progress as ``router seed`` and the console show it."""

    state: str = "idle"  # idle | running | done | failed
    phase: str = ""
    done: int = 0
    total: int = 0
    failed: int = 0
    left: int = 0  # not scored because every peer of the model stopped answering
    backoffs: int = 0  # busy / rate-limited refusals honoured
    skipped_existing: int = 0
    notified: int = 0  # verdicts sent to the peers that answered
    started_at: float = 0.0
    scoring_started_at: float = 0.0
    finished_at: float = 0.0
    plan: dict[str, object] = field(default_factory=dict)
    per_model: dict[str, dict[str, int]] = field(default_factory=dict)
    summary: dict[str, object] = field(default_factory=dict)
    error: str = ""

    recent: dict[str, deque[float]] = field(default_factory=dict, repr=False)  # models' last row times

    def to_json(self) -> dict[str, object]:
        """The progress with its pace, for the API."""
        return {**{k: v for k, v in self.__dict__.items() if k != "recent"}, **self.pace(time.time())}

    def row_done(self, model: str, now: float) -> None:
        """Count one stored row for ``model`` (its time feeds the pace estimate)."""
        self.done += 1
        self.per_model[model]["done"] += 1
        self.recent.setdefault(model, deque(maxlen=RECENT_ROWS)).append(now)

    def pace(self, now: float) -> dict[str, float | None]:
        """Rows per second so far and the seconds left: the slowest model's backlog at its recent rate.

        A model's rate is measured over its last RECENT_ROWS rows (up to now, so a stall
        slows it): models share machines and speed up when another one finishes."""
        if self.state != "running" or not self.scoring_started_at or not self.done:
            return {"rate_per_s": None, "eta_s": None}
        elapsed = max(now - self.scoring_started_at, 1e-3)
        etas = []
        for model, m in self.per_model.items():
            remaining = m.get("total", 0) - m["done"] - m["failed"]
            if remaining <= 0:
                continue
            times = self.recent.get(model)
            if times is not None and len(times) >= 2:
                etas.append(remaining * max(now - times[0], 1e-3) / (len(times) - 1))
            else:
                etas.append(remaining * elapsed / m["done"] if m["done"] else math.inf)
        eta = max(etas, default=0.0)
        return {"rate_per_s": self.done / elapsed, "eta_s": None if math.isinf(eta) else eta}


def item_job(item: Item) -> Job:
    """The multiple-choice scoring job of a benchmark item."""
    from peermind.bench import mc_context, mc_continuations

    return Job(kind="score", prompt=mc_context(item), continuations=tuple(mc_continuations(item)))


def generate_job(item: Item) -> Job:
    """A free-text job on the item's question (for the generation confidence threshold)."""
    return Job.question(item.query.strip(), max_tokens=GENERATE_MAX_TOKENS)


class SeedRunner:
    """Runs one seed at a time in the background; ``progress`` is what `router status` shows."""

    def __init__(
        self,
        *,
        store: Store,
        router: RouterHolder,
        embedder: QueryEmbedder,
        candidates: Callable[[], list[Candidate]],
        attempt: Attempter,
    ) -> None:
        self._store = store
        self._router = router
        self._embedder = embedder
        self._candidates = candidates
        self._attempt = attempt
        self.report_outcome: ReportOutcome | None = None
        self.progress = SeedProgress()
        self._vectors: dict[tuple[str, str], np.ndarray] = {}
        self._embedded = trio.Event()
        self._held: list[tuple[str, Candidate, _Work, TaskResult]] = []  # answers waiting for their embedding
        self._finished = trio.Event()
        self._finished.set()

    @property
    def running(self) -> bool:
        """Whether a seeding run is under way (one at a time)."""
        return self.progress.state == "running"

    def start(self, nursery: trio.Nursery, plan: SeedPlan) -> SeedProgress:
        """Start ``plan`` in ``nursery``; a second start while one runs is refused."""
        if self.running:
            raise SeedInProgress(f"a seed run is already {self.progress.done}/{self.progress.total} done; see `peermind router status`")
        self.progress = SeedProgress(state="running", phase="loading items", started_at=time.time(), plan=plan.describe())
        self._finished = trio.Event()
        nursery.start_soon(self._run_guarded, plan)
        return self.progress

    async def wait(self) -> SeedProgress:
        """The progress once the current run has finished."""
        await self._finished.wait()
        return self.progress

    async def _run_guarded(self, plan: SeedPlan) -> None:
        try:
            self.progress.summary = await self.run(plan)
            self.progress.state = "done"
        except (NodeError, ValueError) as exc:
            self.progress.state, self.progress.error = "failed", str(exc)
            log.warning("seed failed", extra={"error": str(exc)})
        except Exception as exc:
            self.progress.state, self.progress.error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("seed crashed")
        finally:
            self.progress.finished_at = time.time()
            self.progress.phase = ""
            self._finished.set()

    # ------------------------------------------------------------------ the run
    async def run(self, plan: SeedPlan) -> dict[str, object]:
        """Score every model on the plan's items through the network, store the rows, then fit and calibrate."""
        p = self.progress
        by_model = self._peers_by_model()
        items = await trio.to_thread.run_sync(_load, plan)
        done_keys = {(r.query_id, r.model_key, _work_split(r)) for r in self._store.feedback_rows()
                     if r.mode == SEED_MODE}
        pending = {model: [(split, it) for split, it in items if (it.id, model, split) not in done_keys]
                   for model in by_model}
        p.skipped_existing += sum(len(items) - len(todo) for todo in pending.values())
        needed = {(split, it.id): it for todo in pending.values() for split, it in todo}
        queues: dict[str, _ModelQueue] = {}
        for model, todo in pending.items():
            queues[model] = _ModelQueue(deque(
                _Work(it.id, item_job(it) if split != "generate" else generate_job(it), split, (split, it.id), it.gold)
                for split, it in sorted(todo, key=lambda pair: SPLIT_ORDER[pair[0]])
            ), {c.peer_id for c in by_model[model] if not c.is_local})
            p.per_model[model] = {"done": 0, "correct": 0, "failed": 0, "total": len(queues[model].items)}
        p.total = sum(len(q.items) for q in queues.values())
        p.phase = "scoring through the network"
        p.scoring_started_at = time.time()
        self._vectors, self._embedded, self._held = {}, trio.Event(), []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._embed, needed)  # the embedder may take minutes to load: score meanwhile
            for model, peers in by_model.items():
                for candidate in peers:
                    peer = _PeerState()
                    slots = candidate.max_concurrency + 1 if candidate.is_local else candidate.max_concurrency
                    for _ in range(min(MAX_IN_FLIGHT, slots)):
                        nursery.start_soon(self._worker, model, candidate, queues[model], peer)
        p.left = sum(len(q.items) for q in queues.values())
        p.phase = "fitting the router"
        return await self.fit_and_calibrate(plan.target_escalation, plan.target_share, source="seed")

    async def _worker(self, model: str, candidate: Candidate, shared: _ModelQueue, peer: _PeerState) -> None:
        """One request slot to one peer: take the model's next item, honour the peer's refusals."""
        p = self.progress
        queue = shared.items
        while queue and peer.failures < MAX_CONSECUTIVE_FAILURES:
            await peer.turn()
            if not queue:  # another worker took the last item while this one waited
                break
            work = shared.take(candidate.peer_id)
            if work is None:  # what is left is kept for a peer that has no training row yet
                await trio.sleep(RESERVED_WAIT_S)
                continue
            result, attempt = await self._attempt(work.job, candidate, peer.timeout_s)
            if result is None and attempt.outcome in BACK_OFF:
                queue.appendleft(work)  # the peer asked us to slow down: not a failure
                peer.refused(attempt.retry_after_ms / 1000)
                p.backoffs += 1
                continue
            if result is None and attempt.outcome == "refused:deadline" and peer.timeout_s < MAX_TASK_TIMEOUT_S:
                queue.appendleft(work)  # "allow more time or ask another peer": the next try allows more
                peer.timeout_s = min(2 * peer.timeout_s, MAX_TASK_TIMEOUT_S)
                p.backoffs += 1
                continue
            peer.answered()
            if result is None:
                peer.failures += 1
                if peer.failures >= MAX_CONSECUTIVE_FAILURES:  # it stopped answering: free what it was kept
                    shared.needs_train.discard(candidate.peer_id)
                work.tries += 1
                if work.tries < 2:
                    queue.append(work)
                else:
                    p.failed += 1
                    p.per_model[model]["failed"] += 1
                continue
            peer.failures = 0
            if work.split == "train":
                shared.needs_train.discard(candidate.peer_id)
            if self._embedded.is_set():
                self._record(model, candidate, work, result)
            else:
                self._held.append((model, candidate, work, result))
            p.row_done(model, time.time())

    async def _embed(self, needed: dict[tuple[str, str], Item]) -> None:
        """Embed every question once (one batch), then record the rows that waited for it."""
        keys = list(needed)
        texts = [query_text(item_job(needed[k])) for k in keys]  # generate rows embed the same question
        vectors = await self._embedder.embed_many(texts) if keys else np.zeros((0, 384), np.float32)
        self._vectors = {k: vectors[i] for i, k in enumerate(keys)}
        self._embedded.set()
        held, self._held = self._held, []
        for model, candidate, work, result in held:
            self._record(model, candidate, work, result)

    def _record(self, model: str, candidate: Candidate, work: _Work, result: TaskResult) -> None:
        from peermind.bench import normalized_choice

        from .route import job_tokens

        tokens = sum(job_tokens(work.job))
        common = dict(query_embedding=self._vectors[work.key], query_id=work.item_id, peer=candidate.peer_id,
                      model_key=result.model or model, mode=SEED_MODE, kind=work.job.kind,
                      split="train" if work.split == "train" else "validation",
                      cost=candidate.cost_per_1k * tokens / 1000, latency_ms=result.latency_ms)
        if work.split == "generate":
            self._store.add_feedback(**common, correct=None, confidence=result.confidence)
            return
        scores = [(s.logprob, s.n_tokens) for s in result.scores]
        correct = normalized_choice(scores) == work.gold if work.gold is not None else None
        if correct:
            self.progress.per_model[model]["correct"] += 1
        self._store.add_feedback(**common, correct=correct, confidence=mc_confidence(scores))
        if correct is not None and not candidate.is_local and self.report_outcome is not None:
            self.report_outcome(candidate.peer_id, result.task_id, correct,
                                "validation" if work.split == "validation" else "train")
            self.progress.notified += 1

    def _peers_by_model(self) -> dict[str, list[Candidate]]:
        by_model: dict[str, list[Candidate]] = {}
        for c in self._candidates():
            by_model.setdefault(c.model, []).append(c)
        if not by_model:
            raise SeedError("no peer (not even this node) can answer: is the node running?")
        return by_model

    # ------------------------------------------------------------------ fit + calibrate
    async def fit_and_calibrate(self, target_escalation: float | None, target_share: float, *, source: str) -> dict[str, object]:
        """Fit on the stored train rows, tune on the validation rows, adopt; the summary."""
        models = sorted({c.model for c in self._candidates()})
        schema = schema_for(models, self._router.schema)
        train, validation = await trio.to_thread.run_sync(training_rows, self._store, schema.embed_dim)
        if not train:
            raise SeedError("no labelled training rows: run `peermind router seed` first")
        model, fit_metrics = await trio.to_thread.run_sync(fit_router, schema, train, validation)
        calibration, report = self.calibrate_for(model, validation, target_escalation, target_share)
        metrics = {"fit": fit_metrics, "validation_routing": report, "train_rows": len(train), "validation_rows": len(validation)}
        version = self._router.adopt(model, source, metrics=metrics, calibration=calibration)
        return {"router_version": version, **metrics, "calibration": calibration.__dict__}

    def calibrate_for(self, model: RouterModel, validation: Sequence[FeedbackRow], target_escalation: float | None,
                      target_share: float) -> tuple[Calibration, dict[str, object]]:
        """Thresholds and cost weight for ``model`` from the stored validation rows.

        ``target_escalation`` None: the rate in ``ESCALATION_BAND`` with the best validation
        accuracy of a cascade from the cheapest model to the next one.
        """
        rows = self._store.feedback_rows()
        score_conf: dict[str, list[float]] = {}
        gen_conf: dict[str, list[float]] = {}
        per_query: dict[str, dict[str, tuple[float, bool]]] = {}
        for r in rows:
            if r.model_key and r.confidence is not None:
                if r.mode != SEED_MODE:
                    continue
                if r.split == "validation" and r.kind == "score":
                    score_conf.setdefault(r.model_key, []).append(r.confidence)
                    if r.query_id and r.correct is not None:
                        per_query.setdefault(r.query_id, {})[r.model_key] = (r.confidence, r.correct)
                elif r.kind == "generate":
                    gen_conf.setdefault(r.model_key, []).append(r.confidence)
        costs: dict[str, float] = {}
        for c in self._candidates():
            costs[c.model] = min(costs.get(c.model, c.cost_per_1k), c.cost_per_1k)
        cascade_report: dict[str, object] = {}
        tiers = sorted((m for m in costs if m in score_conf), key=lambda m: costs[m])
        triples: list[tuple[float, bool, bool]] = []
        if len(tiers) >= 2:
            cheap, strong = tiers[0], tiers[1]
            triples = [(q[cheap][0], q[cheap][1], q[strong][1]) for q in per_query.values() if cheap in q and strong in q]
        if triples and target_escalation is None:
            target_escalation, choice = choose_escalation_rate(triples)
            cascade_report = dict(choice)
        elif triples and target_escalation is not None:
            threshold = float(np.quantile([t[0] for t in triples], target_escalation))
            acc, rate = cascade_outcome(triples, threshold)
            cascade_report = {"rate": target_escalation, "threshold": threshold, "accuracy": acc, "escalated": rate}
        if cascade_report:
            cascade_report["tiers"] = tiers[:2]
        if target_escalation is None:
            target_escalation = ESCALATION_BAND[1]
        thresholds: dict[str, dict[str, float]] = {}
        for kind, conf in (("score", score_conf), ("generate", gen_conf)):
            for m, t in escalation_thresholds(conf, target_escalation).items():
                thresholds.setdefault(m, {})[kind] = t
        trained = [m for m in model.model_keys if m in costs]
        rel = relative_costs({m: costs[m] for m in trained}) if trained else {}
        queries = group_queries(model, validation, trained) if len(trained) >= 2 else []
        if queries:
            cost_weight, chosen = choose_cost_weight(queries, rel, target_share)
            report = routing_report(queries, rel, cost_weight)
            report["cost_weight_choice"] = chosen
        else:
            cost_weight, report = None, {"queries": 0}
        report["escalation_rate_target"] = target_escalation
        report["cascade"] = cascade_report
        calibration = Calibration(
            thresholds=thresholds,
            cost_weight=cost_weight,
            targets={"escalation": target_escalation, "share_to_dearest": target_share},
            metrics={"validation_confidences": {m: len(v) for m, v in score_conf.items()},
                     "generation_confidences": {m: len(v) for m, v in gen_conf.items()}},
            calibrated_at=time.time(),
        )
        return calibration, report

    async def recalibrate(self, target_escalation: float | None, target_share: float) -> dict[str, object]:
        """New thresholds / cost weight for the current router from stored validation rows."""
        _train, validation = await trio.to_thread.run_sync(training_rows, self._store, self._router.schema.embed_dim)
        calibration, report = self.calibrate_for(self._router.model, validation, target_escalation, target_share)
        metrics = {**self._router.metrics, "validation_routing": report}
        version = self._router.adopt(self._router.model, self._router.source, metrics=metrics, calibration=calibration)
        return {"router_version": version, "validation_routing": report, "calibration": calibration.__dict__}


class _ModelQueue:
    """One model's items in plan order, shared by the slots of every peer that runs it.

    Each remote peer must end a seed with at least one *training* verdict: federated
    training refuses a node whose rows are all validation rows (``no_data``), and with the
    train items first in the queue a fast local model could take them all before a slow or
    throttled peer's first turn. So the last train items are kept for the peers that have
    none yet (``needs_train``) until they answer one or stop answering.
    """

    def __init__(self, items: deque[_Work], remote_peers: set[str]) -> None:
        self.items = items
        self.needs_train = set(remote_peers) if any(w.split == "train" for w in items) else set()

    def take(self, peer_id: str) -> _Work | None:
        """The next item for ``peer_id``'s slot, or None while the rest is kept for other peers."""
        train_left = [w for w in self.items if w.split == "train"]
        if peer_id in self.needs_train and train_left:
            self.items.remove(train_left[0])
            return train_left[0]
        if len(train_left) > len(self.needs_train - {peer_id}):
            return self.items.popleft()
        for work in self.items:
            if work.split != "train":
                self.items.remove(work)
                return work
        return None


class _PeerState:
    """One peer's request pace, shared by its slots: starts spaced by ``gap_s``, which a refusal
    raises (to the wait it asked for, ``retry_after``, and by GAP_GROWTH) and each answer shrinks."""

    def __init__(self) -> None:
        self.gap_s = 0.0
        self.next_at = 0.0
        self.failures = 0  # consecutive, across the peer's slots
        self.timeout_s = TASK_TIMEOUT_S  # doubled by each deadline refusal, up to MAX_TASK_TIMEOUT_S

    async def turn(self) -> None:
        start = max(trio.current_time(), self.next_at)
        self.next_at = start + self.gap_s
        await trio.sleep_until(start)

    def refused(self, retry_after_s: float) -> None:
        wait = max(retry_after_s, MIN_BACK_OFF_S)
        self.gap_s = max(GAP_GROWTH * self.gap_s, wait)
        self.next_at = max(self.next_at, trio.current_time() + wait)

    def answered(self) -> None:
        self.gap_s *= GAP_DECAY


def user_items(data: object) -> tuple[tuple[str, Item], ...]:
    """The (split, item) pairs of a request's own seed data, ``{"name": str, "records": [...]}``.

    The records are a seed file's lines (see ``peermind.bench.load_seed_jsonl``), checked by
    the same rules here as in the CLI; SeedDataInvalid names the record that is wrong.
    """
    from pathlib import Path

    from peermind.bench import DataFormatError, seed_items

    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise SeedDataInvalid('data must be {"name": "...", "records": [{"query": ..., "choices": [...], "gold": 0}, ...]}')
    name, records = data.get("name", "user"), data["records"]
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
        raise SeedDataInvalid(f"data name must be 1-64 letters, digits, '_', '.' or '-', got {name!r}")
    if not records or len(records) > MAX_USER_ITEMS:
        raise SeedDataInvalid(f"data must hold 1 to {MAX_USER_ITEMS} records, got {len(records)}")
    try:
        return tuple(seed_items(list(enumerate(records, start=1)), name, Path(f"{name} (record)")))
    except DataFormatError as exc:
        raise SeedDataInvalid(str(exc)) from None


def schema_for(models: Sequence[str], current: FeatureSchema) -> FeatureSchema:
    """The default heads plus any other model seen on the network (extra heads break
    federated compatibility with default-schema nodes, so only add what is really there)."""
    keys = list(current.model_keys)
    for m in DEFAULT_SCHEMA.model_keys:
        if m not in keys:
            keys.append(m)
    for m in sorted(models):
        if m not in keys:
            keys.append(m)
    return FeatureSchema(version=current.version, embed_dim=current.embed_dim, model_keys=tuple(keys))


def _work_split(row: FeedbackRecord) -> str:
    """A stored seed row's place in the plan: train, validation or generate (``_Work.split``)."""
    return "generate" if row.kind == "generate" else row.split or "train"


def _load(plan: SeedPlan) -> list[tuple[str, Item]]:
    """(split, item) pairs: train, validation, and a few validation items to generate on."""
    from peermind.bench import BenchError, load_items

    out: list[tuple[str, Item]] = []
    for ds in plan.datasets:
        try:
            train = load_items(ds, "train", plan.limit)
            val = load_items(ds, "validation", plan.validation_limit)
        except BenchError as exc:
            raise SeedError(f"cannot load {ds!r}: {exc} (run `peermind setup` to fetch the data)") from exc
        mc_train = [it for it in train if it.kind == "mc"]
        mc_val = [it for it in val if it.kind == "mc"]
        if not mc_train:
            raise SeedError(f"{ds!r} has no multiple-choice items; seed on mc datasets (arc_easy, sciq, ...)")
        out += [("train", it) for it in mc_train] + [("validation", it) for it in mc_val]
        out += [("generate", it) for it in mc_val[: plan.generation_items]]
    user_val = [it for split, it in plan.items if split == "validation"]
    out += list(plan.items) + [("generate", it) for it in user_val[: plan.generation_items]]
    if not out:
        raise SeedError("nothing to seed: name benchmark datasets or give your own items (--data FILE.jsonl)")
    return out
