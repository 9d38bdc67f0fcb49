"""Canaries: questions from this node's own validation data, asked like any user question.

A canary is built in the shape of the user's question it accompanies: a multiple-choice
question becomes a ``score`` task with ``mc_context`` and ``mc_continuations`` (exactly
what a client sends to ``/peermind/score``), a generation question becomes a chat
message asking for the choice. The reply is judged against the gold answer.

Small honest models miss many benchmark questions, so a wrong answer is judged against
what the peer's own model is expected to get right (``peermind.trust.ModelBaseline`` and
the sequential test in ``canary_llr``), never against this node's model: any item can be
a canary. This node's own model answers every item it sends too (off the answer path,
at the lowest priority); those verdicts are cached in ``trust-canaries.json`` and feed
its own model's baseline.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from peermind.bench import Item, load_items, mc_context, mc_continuations
from peermind.protocol import TaskResult
from peermind.trust import CanaryItem, Evidence, judge_canary

from ..collab.confidence import argmax, choice_distribution
from ..collab.job import Job

log = logging.getLogger("peermind.node.trust")

__all__ = ["CANARY_FILE", "Canary", "CanaryDeck", "ProbeBudget", "Verdict", "load_canaries"]

CANARY_FILE = "trust-canaries.json"
MAX_ITEMS_PER_DATASET = 400

@dataclass(frozen=True)
class Canary:
    """One validation item and how to ask it."""

    key: str  # dataset/item id
    item: Item

    @property
    def choices(self) -> tuple[str, ...]:
        return self.item.choices or ()

    @property
    def gold(self) -> int:
        return self.item.gold if self.item.gold is not None else -1

    def job(self, like: Job) -> Job:
        """A job of the same kind and settings as ``like`` asking this canary."""
        if like.kind == "score":
            return Job(kind="score", prompt=mc_context(self.item),
                       continuations=tuple(mc_continuations(self.item)))
        options = "; ".join(c.strip() for c in self.choices)
        question = f"{self.item.query.strip()}\nOptions: {options}\nAnswer with the correct option only."
        return Job.question(question, max_tokens=like.max_tokens, temperature=like.temperature)


@dataclass(frozen=True)
class Verdict:
    """The judgement of one canary reply."""

    evidence: Evidence  # ANSWER_RIGHT or ANSWER_WRONG
    confidence: float  # what the peer's reply claimed, in [0, 1]
    answer: str  # the choice index or text, for the evidence detail

    @property
    def right(self) -> bool:
        return self.evidence is Evidence.ANSWER_RIGHT


def judge(canary: Canary, job: Job, result: TaskResult) -> Verdict:
    """Right or wrong, and the confidence the reply claimed (for calibration tracking)."""
    if job.kind == "score":
        scores = [(s.logprob, s.n_tokens) for s in result.scores]
        if len(scores) != len(canary.choices) or any(n <= 0 for _lp, n in scores):
            return Verdict(Evidence.ANSWER_WRONG, 0.0, f"{len(scores)} scores for {len(canary.choices)} choices")
        dist = choice_distribution(scores)
        choice = argmax(dist)
        verdict = judge_canary(str(canary.gold), str(choice))
        return Verdict(verdict, max(dist), str(choice))
    expected = [canary.choices[canary.gold]] if 0 <= canary.gold < len(canary.choices) else []
    verdict = judge_canary(expected, result.text) if expected else Evidence.ANSWER_WRONG
    mean_logprob = result.confidence if math.isfinite(result.confidence) else -math.inf
    return Verdict(verdict, min(1.0, math.exp(mean_logprob)), result.text[:60])


def load_canaries(datasets: Sequence[str]) -> list[Canary]:
    """Multiple-choice validation items of ``datasets`` (never the test split)."""
    out: list[Canary] = []
    for name in datasets:
        for item in load_items(name, "validation", limit=MAX_ITEMS_PER_DATASET):
            if item.kind == "mc" and item.choices and item.gold is not None:
                out.append(Canary(item.id if item.id.startswith(f"{name}/") else f"{name}/{item.id}", item))
    return out


class CanaryDeck:
    """The canary items, and what this node's own model answered on them (cached on disk)."""

    def __init__(self, canaries: Sequence[Canary], path: Path | None, model: str) -> None:
        self._by_key = {c.key: c for c in canaries}
        self._path = path
        self._model = model
        self._local: dict[str, bool] = {}  # (kind/key) -> own model right
        self._load()

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, key: str) -> Canary:
        return self._by_key[key]

    def usable(self, kind: str) -> list[CanaryItem]:
        """Every item, for ``CanaryPolicy.pick``: any validation item can be a canary (``kind``
        is the shape it will be asked in; no item is screened on this node's own model)."""
        del kind
        return [CanaryItem(c.key, c.item.query, str(c.gold)) for c in self._by_key.values()]

    def local_verdict(self, kind: str, key: str) -> bool | None:
        """Whether this node's own model answered the item right in this shape (None: not asked yet)."""
        return self._local.get(f"{kind}/{key}")

    def record_local(self, kind: str, key: str, correct: bool) -> None:
        self._local[f"{kind}/{key}"] = correct
        self._save()

    def local_verdicts(self) -> dict[str, bool]:
        """``kind/key`` -> own model right, for every item it answered (restores its baseline)."""
        return dict(self._local)

    def stats(self) -> dict[str, int]:
        return {
            "items": len(self._by_key),
            "local_right": sum(self._local.values()),
            "local_wrong": sum(not v for v in self._local.values()),
        }

    def _load(self) -> None:
        if self._path is None:
            return
        try:
            data = json.loads(self._path.read_text())
        except (OSError, ValueError):
            return
        if not isinstance(data, dict):
            return
        verdicts = data.get("local", data.get("screened"))
        if data.get("model") == self._model and isinstance(verdicts, dict):
            self._local = {str(k): bool(v) for k, v in verdicts.items()}

    def _save(self) -> None:
        if self._path is None:
            return
        tmp = self._path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"model": self._model, "local": self._local}))
            os.replace(tmp, self._path)
        except OSError:
            log.warning("could not save this node's canary answers", extra={"path": str(self._path)})


PROBE_BUDGET_PER_MIN = 6.0
"""Probes (idle canaries, start-up ones included) one node sends per minute, whatever N is.

Before the budget every node probed every newcomer three times at start-up, so a fresh
network of N nodes sent ~3·N² probes (6 nodes: 9.5% of a core idle with probes, 1.3%
without; 20 nodes saturated a 2-core machine). With it a node sends at most this many per
minute (total probes grow as N, not N²); a peer it has not judged yet is covered meanwhile
by the global-trust opinions its neighbours gossip. Six a minute with a burst of six keeps
small networks exactly as before: 3 nodes judge each other within the first ten seconds,
and the regular idle pace (one every ``probe_interval_s`` = 10 s) is six a minute too."""
PROBE_BURST = 6.0


class ProbeBudget:
    """A token bucket for probes: ``per_min`` a minute on average, at most ``burst`` at once."""

    def __init__(self, per_min: float = PROBE_BUDGET_PER_MIN, burst: float = PROBE_BURST,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_min / 60.0
        self._burst = burst
        self._now = now
        self._tokens = burst
        self._at = now()
        self.spent = 0
        self.denied = 0

    def take(self) -> bool:
        """Spend one probe if the budget allows it now."""
        at = self._now()
        self._tokens = min(self._burst, self._tokens + (at - self._at) * self._rate)
        self._at = at
        if self._tokens < 1.0:
            self.denied += 1
            return False
        self._tokens -= 1.0
        self.spent += 1
        return True
