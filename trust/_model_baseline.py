"""What each advertised model should score on canaries, learned from the whole network.

A canary is judged against what the peer's *own model* gets right, not against the
asking node's model: an honest peer serving a weak model must never look like a liar.
Per model name the baseline keeps, for every source that answered canaries with it
(each peer serving it, and this node's own model under the key ``SELF_SOURCE``), how
many it got right out of how many. Its expected accuracy is the mean of a Beta
posterior:

    E[acc | model] = (k0 * m + R) / (k0 + T)

with R, T the right/total counts over the model's sources minus those left out (the
judged peer itself, so a liar cannot lower its own bar, and peers already excluded),
k0 = ``prior_weight`` pseudo-results, and m a lenient guess from the other models:
chance + ``unmeasured_share`` x (their pooled accuracy - chance), with the same sources
left out (``prior_mean`` pooled when there is no data at all). A model nobody else has
measured is expected to beat chance by half as much as the network's models do: until
it is measured, the doubt goes to the peer serving it.
The expectation used is the posterior mean minus ``caution`` standard deviations
(sd = sqrt(mean * (1 - mean) / (n + 1)), n = k0 + T): while a model is little measured
the doubt goes to the peer, not against it. Overall it is floored at
chance level (1 / number of choices): below that, "honest at the expected accuracy" and
"answering at random" cannot be told apart. For this node's own model, conditioned on
its verdict, it may be below chance (a same-model peer should miss what this node's model
missed); the sequential test then treats a right answer as a deviation (see _sprt.py).

Item difficulty: when this node's own model has answered the same item, the expectation
is conditioned on whether it got it right (``local_right``), learned the same way per
model and stratum with the model's overall expectation as the prior. For this node's own
model (``own_model``) the prior is structural instead: the same weights give the same
answers, so a peer serving it should get right what this node got right
(``same_model_agreement``) and miss what it missed. An item every small model misses
says little. This node's own results feed only the overall tally
(conditioned on its own verdict they are right or wrong by definition).

Each source's tally is capped at ``max_per_source`` results (both counts scaled down, as
the reputation book caps its evidence mass): one chatty source cannot outweigh all
others, and the estimate follows recent results.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from ._errors import InvalidInput

__all__ = ["MAX_MODELS", "MAX_SOURCES_PER_MODEL", "SELF_SOURCE", "ModelBaseline", "ModelStats"]

MAX_MODELS = 256
MAX_SOURCES_PER_MODEL = 1024
"""Model names and sources come from peers' ads: bounded, so a flood of made-up names or
identities cannot grow the baseline without limit (results beyond the bounds are ignored)."""

SELF_SOURCE = "self"
"""Source key of this node's own model's answers (never a valid base58 peer ID: 'l')."""


@dataclass(frozen=True, slots=True)
class ModelStats:
    """One model's learned canary accuracy, for reports (``peermind peers --trust``)."""

    model: str
    right: float
    total: float
    sources: int
    expected: float


@dataclass(slots=True)
class _Tally:
    right: float = 0.0
    total: float = 0.0


class ModelBaseline:
    """Per-model canary accuracy from every source's results (pure, in memory)."""

    def __init__(
        self,
        *,
        prior_mean: float = 0.5,
        prior_weight: float = 4.0,
        max_per_source: float = 50.0,
        caution: float = 1.0,
        own_model: str = "",
        same_model_agreement: float = 0.95,
        unmeasured_share: float = 0.5,
    ) -> None:
        if not 0 < prior_mean < 1:
            raise InvalidInput(f"prior_mean must be within (0, 1), got {prior_mean!r}")
        if not prior_weight > 0 or not max_per_source >= 1:
            raise InvalidInput(
                f"need prior_weight > 0 and max_per_source >= 1, got {prior_weight!r}, {max_per_source!r}"
            )
        self.prior_mean = float(prior_mean)
        self.prior_weight = float(prior_weight)
        self.max_per_source = float(max_per_source)
        self.caution = float(caution)
        self.own_model = own_model
        if not 0.5 <= same_model_agreement < 1:
            raise InvalidInput(f"same_model_agreement must be within [0.5, 1), got {same_model_agreement!r}")
        self.same_model_agreement = float(same_model_agreement)
        self.unmeasured_share = float(unmeasured_share)
        self._tallies: dict[str, dict[str, _Tally]] = {}
        self._strata: dict[tuple[str, bool], dict[str, _Tally]] = {}

    def add(self, model: str, source: str, correct: bool, *, local_right: bool | None = None) -> None:
        """One canary result of ``source`` answering with ``model`` (``local_right``: this node's
        own model's verdict on the same item, when known)."""
        if not isinstance(model, str) or not model:
            raise InvalidInput(f"model must be a non-empty string, got {model!r}")
        tallies = self._tallies.get(model)
        if tallies is None:
            if len(self._tallies) >= MAX_MODELS:
                return
            tallies = self._tallies[model] = {}
        if source not in tallies and len(tallies) >= MAX_SOURCES_PER_MODEL:
            return
        self._count(tallies, source, correct)
        if local_right is not None and source != SELF_SOURCE:
            self._count(self._strata.setdefault((model, bool(local_right)), {}), source, correct)

    def _count(self, tallies: dict[str, _Tally], source: str, correct: bool) -> None:
        tally = tallies.setdefault(source, _Tally())
        tally.right += 1.0 if correct else 0.0
        tally.total += 1.0
        if tally.total > self.max_per_source:
            shrink = self.max_per_source / tally.total
            tally.right *= shrink
            tally.total = self.max_per_source

    def counts(
        self, model: str, *, leave_out: Collection[str] = (), local_right: bool | None = None
    ) -> tuple[float, float]:
        """(right, total) of ``model`` over its sources not in ``leave_out`` (of one stratum, if given)."""
        if local_right is None:
            tallies = self._tallies.get(model, {})
        else:
            tallies = self._strata.get((model, bool(local_right)), {})
        kept = [t for s, t in tallies.items() if s not in leave_out]
        return math.fsum(t.right for t in kept), math.fsum(t.total for t in kept)

    def pooled_mean(self, *, except_model: str = "", leave_out: Collection[str] = ()) -> float:
        """Accuracy over every model but ``except_model`` (the hyper-prior of an unmeasured model)."""
        right = total = 0.0
        for model in self._tallies:
            if model != except_model:
                r, t = self.counts(model, leave_out=leave_out)
                right, total = right + r, total + t
        return (self.prior_weight * self.prior_mean + right) / (self.prior_weight + total)

    def expected(
        self, model: str, *, choices: int, leave_out: Collection[str] = (), local_right: bool | None = None
    ) -> float:
        """Expected accuracy of an honest peer serving ``model`` on a ``choices``-way item
        (on which this node's own model was right or wrong, if ``local_right`` is given)."""
        if isinstance(choices, bool) or not isinstance(choices, int) or choices < 2:
            raise InvalidInput(f"choices must be an integer >= 2, got {choices!r}")
        chance = 1.0 / choices
        pooled = self.pooled_mean(except_model=model, leave_out=leave_out)
        prior = chance + self.unmeasured_share * max(0.0, pooled - chance)
        mean, n = self._posterior(prior, *self.counts(model, leave_out=leave_out))
        if local_right is not None:
            if model == self.own_model:
                mean = self.same_model_agreement if local_right else 1.0 - self.same_model_agreement
            mean, n = self._posterior(mean, *self.counts(model, leave_out=leave_out, local_right=local_right))
        sd = math.sqrt(mean * (1.0 - mean) / (n + 1.0))
        if local_right is not None and model == self.own_model and mean < chance:
            return mean  # it should miss what this node's model missed; towards chance would count that against it
        return max(chance, mean - self.caution * sd)

    def _posterior(self, prior: float, right: float, total: float) -> tuple[float, float]:
        n = self.prior_weight + total
        return (self.prior_weight * prior + right) / n, n

    def sources(self, model: str) -> list[str]:
        """Sources with results for ``model``."""
        return sorted(self._tallies.get(model, {}))

    def models(self) -> Iterator[str]:
        return iter(sorted(self._tallies))

    def stats(self, *, choices: int = 4) -> list[ModelStats]:
        """Every model's counts and expected accuracy (no source left out)."""
        out = []
        for model in self.models():
            right, total = self.counts(model)
            out.append(ModelStats(model, round(right, 2), round(total, 2), len(self._tallies[model]),
                                  round(self.expected(model, choices=choices), 4)))
        return out
