"""Idle learning: the router earns labelled rows while nobody is asking anything.

Which model answers which kind of question better is only known from outcomes, and a
fresh node has none. So while the node is idle it takes one validation question with a
known answer (never a test item), puts it to one askable peer of every model on the
network and to its own model, and keeps each outcome as a labelled row (source "learn")
— the same rows seeding, canaries and user marks produce. The nearest-neighbour memory
picks them up at once and federated training shares what they taught. It learns fast
until every model has a first couple of dozen rows, then slowly; it stops asking
a model once this node holds ``learn_max_rows`` labelled rows of it, so an idle network
does not keep its CPUs busy forever.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import trio
from peermind.bench import Item, load_items, mc_context, mc_continuations

from ..store import Store
from .candidates import Candidate
from .confidence import argmax, choice_distribution
from .feedback import LabelledOutcome
from .job import Job
from .policy import Collaborator
from .quality import QualityMemory

log = logging.getLogger("peermind.node.collab.learning")

SOURCE = "learn"
ITEMS_PER_DATASET = 400
TASK_TIMEOUT_S = 60.0
JITTER = 0.5
WARM_ROWS = 24
WARM_INTERVAL_S = 2.0

OutcomeSink = Callable[[LabelledOutcome], None]


@dataclass(frozen=True)
class LearningItem:
    """A known-answer question idle learning asks peers."""

    key: str  # dataset/item id: the row's query id
    job: Job
    gold: int


def learning_items(datasets: Sequence[str], rng: random.Random) -> list[LearningItem]:
    """Validation multiple-choice items of ``datasets``, shuffled, datasets interleaved."""
    per_dataset: list[list[LearningItem]] = []
    for name in datasets:
        items: list[Item] = [i for i in load_items(name, "validation", limit=ITEMS_PER_DATASET)
                             if i.kind == "mc" and i.choices and i.gold is not None]
        rng.shuffle(items)
        per_dataset.append([
            LearningItem(i.id if i.id.startswith(f"{name}/") else f"{name}/{i.id}",
                         Job(kind="score", prompt=mc_context(i), continuations=tuple(mc_continuations(i))),
                         int(i.gold or 0))
            for i in items
        ])
    out: list[LearningItem] = []
    for round_ in range(max((len(x) for x in per_dataset), default=0)):
        out += [x[round_] for x in per_dataset if round_ < len(x)]
    return out


class IdleLearner:
    """Asks one known-answer question of every model whenever the node is idle."""

    def __init__(
        self,
        *,
        collaborator: Collaborator,
        store: Store,
        quality: QualityMemory,
        submit: OutcomeSink,
        datasets: Sequence[str],
        interval_s: float,
        max_rows: int,
        idle: Callable[[], bool],
        rng: random.Random | None = None,
    ) -> None:
        self._collab = collaborator
        self._store = store
        self._quality = quality
        self._submit = submit
        self._datasets = tuple(datasets)
        self._interval_s = interval_s
        self._max_rows = max_rows
        self._idle = idle
        self._rng = rng or random.Random()
        self.asked = 0
        self.items_done = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Ask peers known-answer questions while the node is idle, until cancelled."""
        task_status.started()
        if self._interval_s <= 0 or not self._datasets:
            return
        try:
            items = await trio.to_thread.run_sync(learning_items, self._datasets, self._rng)
            done = await trio.to_thread.run_sync(self._done_keys)
        except Exception as exc:  # missing data must not stop the node: no idle learning then
            log.warning("idle learning off: cannot load validation data", extra={"error": str(exc)})
            return
        queue = [i for i in items if i.key not in done]
        log.info("idle learning ready", extra={"items": len(queue), "datasets": ",".join(self._datasets)})
        for item in queue:
            while True:
                await trio.sleep(self.interval_s() * (1 - JITTER / 2 + JITTER * self._rng.random()))
                if self._idle():
                    break
            await self.learn_once(item)

    def interval_s(self) -> float:
        """Fast (every ~WARM_INTERVAL_S) until every model on the network has WARM_ROWS rows, then slow.

        A fresh node knows nothing, and its idle first minute is the cheapest time to learn
        which model is good at what; once the router has a first picture, learning slows to
        ``learn_interval_s`` so an idle network stays nearly idle.
        """
        models = {c.model for c in self._collab.candidates()}
        warm = all(self._quality.neighbours.rows_of(m) >= WARM_ROWS for m in models)
        return self._interval_s if warm else min(self._interval_s, WARM_INTERVAL_S)

    async def learn_once(self, item: LearningItem) -> int:
        """Ask ``item`` of one peer per model still short of rows; returns outcomes recorded."""
        recorded = 0
        local_right: bool | None = None
        for candidate in self.targets():
            if not self._idle() and not candidate.is_local:
                break  # a user's question arrived: idle work yields
            result, _attempt = await self._collab.attempt(item.job, candidate, TASK_TIMEOUT_S, credit=False)
            self.asked += 1
            if result is None or len(result.scores) != len(item.job.continuations):
                continue
            choice = argmax(choice_distribution([(s.logprob, s.n_tokens) for s in result.scores]))
            right = choice == item.gold
            if candidate.is_local:
                local_right = right
            self._submit(LabelledOutcome(item.job, candidate.peer_id, result.model or candidate.model,
                                         right, SOURCE, item.key, None if candidate.is_local else local_right))
            recorded += 1
        self.items_done += 1
        return recorded

    def targets(self) -> list[Candidate]:
        """One askable candidate per model that still needs rows (this node's own first)."""
        allowed = self._collab.hooks.peer_allowed
        by_model: dict[str, list[Candidate]] = {}
        for c in self._collab.candidates():
            if not c.is_local and ((allowed is not None and not allowed(c.peer_id)) or self._collab.backoff.waiting(c.peer_id)):
                continue
            if self._quality.neighbours.rows_of(c.model) >= self._max_rows:
                continue
            by_model.setdefault(c.model, []).append(c)
        chosen = []
        for group in by_model.values():
            local = [c for c in group if c.is_local]
            chosen.append(local[0] if local else self._rng.choice(group))
        return sorted(chosen, key=lambda c: not c.is_local)

    def _done_keys(self) -> set[str]:
        return {r.query_id for r in self._store.feedback_rows() if r.mode == SOURCE and r.query_id}
