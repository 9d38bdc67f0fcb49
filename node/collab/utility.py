"""Scoring candidates for one query: predicted quality against price and wait.

    utility = trust * P(correct) - cost_term - latency_weight * latency / max_latency
              + knowledge_weight * max(0, knowledge_match - 0.2)   (knowledge peers, knowledge_match.py)

P(correct) comes from the learned router head of the candidate's model. Latency is
divided by the largest among the feasible candidates, so the term lies in [0, 1]
whatever the prompt length. The cost term has two forms:

- ``cost_weight * cost / max_cost`` when a weight is given (the request's tactic or the
  one ``router seed`` calibrated): "accuracy points I would give up to go from the
  dearest candidate to a free one";
- otherwise ``cheap_margin * (cost - min_cost) / (max_cost - min_cost)`` (``[router]
  cheap_margin``): the cheapest model answers wherever the evidence puts it within
  ``cheap_margin`` of the best model's P(correct) for this kind of question, the dearer
  one elsewhere. With one cheap and one dear model that is exactly the rule; the margin
  was chosen on validation splits (docs/results/collab-margin-validation.md).
A model without a trained head gets the mean of the trained heads' predictions (the
router's unknown-model prior); with no trained head at all the caller falls back to
``route.rank_by_prior``. Saturated peers sort last (still a fallback).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .candidates import Candidate
from .constraints import InfeasibleConstraints
from .knowledge_match import DEFAULT_KNOWLEDGE_WEIGHT, match_bonus

DEFAULT_COST_WEIGHT = 0.05
"""The calibrated-lambda fallback of modes that are handed a weight but none was set (kept for callers)."""
DEFAULT_CHEAP_MARGIN = 0.02
"""``[router] cheap_margin``'s default: on 686 validation items of the four multiple-choice datasets
(both models scored, leave-one-out neighbour evidence) it is the largest margin that keeps pooled
accuracy at >= 97% of always-strongest with no dataset more than 3 points below it
(docs/results/collab-margin-validation.md); larger margins trade accuracy for cost
about as a random mix of the two models would."""
DEFAULT_LATENCY_WEIGHT = 0.02

PeerWeight = Callable[[str], float]


@dataclass(frozen=True)
class Estimate:
    """A candidate with its predicted quality, cost and latency for one query."""

    candidate: Candidate
    p_correct: float | None  # None: no prediction (cold start)
    source: str  # router | router-prior | ad-prior
    cost: float
    latency_ms: float
    utility: float
    knowledge_match: float | None = None  # similarity of the question to the peer's corpus summary

    def to_json(self) -> dict[str, object]:
        """The estimate as provenance shows it."""
        c = self.candidate
        return {
            "peer_id": c.peer_id,
            "model": c.model,
            "local": c.is_local,
            "p_correct": None if self.p_correct is None else round(self.p_correct, 4),
            "source": self.source,
            "est_cost": round(self.cost, 6),
            "est_latency_ms": round(self.latency_ms, 1),
            "rtt_ms": round(c.rtt_ms, 1),
            "utility": round(self.utility, 4),
            "saturated": c.saturated,
            "knowledge_match": self.knowledge_match,
        }


def estimate(
    candidates: Sequence[Candidate],
    predictions: Mapping[str, float],
    *,
    prompt_tokens: int,
    max_tokens: int,
    cost_weight: float | None = DEFAULT_COST_WEIGHT,
    cheap_margin: float = DEFAULT_CHEAP_MARGIN,
    latency_weight: float = DEFAULT_LATENCY_WEIGHT,
    peer_weight: PeerWeight | None = None,
    ranking: Mapping[str, float] | None = None,
    knowledge_match: Mapping[str, float] | None = None,
    knowledge_weight: float = DEFAULT_KNOWLEDGE_WEIGHT,
) -> list[Estimate]:
    """Estimates for ``candidates``, best utility first (saturated ones last).

    ``ranking`` (model -> P(correct) to rank by, e.g. a Thompson draw) replaces the
    prediction in the utility only; the estimate still reports the prediction.
    ``knowledge_match`` (peer id -> similarity of the question to its corpus summary) adds
    ``knowledge_match.match_bonus`` to the peer's utility. ``cost_weight=None``: the cost
    term is ``cheap_margin`` over the candidates' price range (see the module docstring).
    """
    if not candidates:
        return []
    costs = [c.estimate_cost(prompt_tokens, max_tokens) for c in candidates]
    lats = [c.estimate_latency_ms(prompt_tokens, max_tokens) for c in candidates]
    max_cost = max(costs) or 1.0
    min_cost = min(costs)
    max_lat = max(lats) or 1.0
    prior = sum(predictions.values()) / len(predictions) if predictions else None
    out = []
    for c, cost, lat in zip(candidates, costs, lats, strict=True):
        if c.model in predictions:
            p, source = predictions[c.model], "router"
        elif prior is not None:
            p, source = prior, "router-prior"
        else:
            p, source = None, "ad-prior"
        trust = peer_weight(c.peer_id) if peer_weight else 1.0
        ranked = ranking.get(c.model, p) if ranking else p
        quality = (ranked if ranked is not None else 0.5) * trust
        matched = knowledge_match.get(c.peer_id) if knowledge_match else None
        if cost_weight is not None:
            cost_term = cost_weight * cost / max_cost
        else:
            cost_term = cheap_margin * (cost - min_cost) / (max_cost - min_cost) if max_cost > min_cost else 0.0
        u = quality - cost_term - latency_weight * lat / max_lat
        u += match_bonus(matched, knowledge_weight)
        out.append(Estimate(c, p, source, cost, lat, u, matched))
    out.sort(key=lambda e: (e.candidate.saturated, -e.utility, e.latency_ms, not e.candidate.is_local))
    return out


def lead_with(estimates: Sequence[Estimate], model: str | None) -> list[Estimate]:
    """``estimates`` with the best unsaturated candidate of ``model`` moved to the front (the
    model an exploration share picked to go first); unchanged when it has none."""
    out = list(estimates)
    if model is None:
        return out
    pick = next((i for i, e in enumerate(out) if e.candidate.model == model and not e.candidate.saturated), None)
    if pick is not None:
        out.insert(0, out.pop(pick))
    return out


def require_quality(estimates: Sequence[Estimate], min_quality: float | None) -> list[Estimate]:
    """Drop candidates whose predicted P(correct) is below ``min_quality``; typed refusal if none is left."""
    if min_quality is None:
        return list(estimates)
    known = [e for e in estimates if e.p_correct is not None and e.source == "router"]
    if not known:
        models = sorted({e.candidate.model for e in estimates})
        raise InfeasibleConstraints(
            "min_quality",
            f"no trained router head predicts quality for {models}; seed the router "
            "(`peermind router seed`) or drop min_quality",
        )
    kept = [e for e in known if e.p_correct is not None and e.p_correct >= min_quality]
    if not kept:
        best = max(e.p_correct or 0.0 for e in known)
        raise InfeasibleConstraints(
            "min_quality", f"best predicted P(correct) is {best:.2f}, below the minimum {min_quality:.2f}"
        )
    return kept


def best_quality_first(estimates: Sequence[Estimate]) -> list[Estimate]:
    """Strongest first by predicted P(correct) (or params when cold), then cheaper, then faster."""
    return sorted(
        estimates,
        key=lambda e: (
            e.candidate.saturated,
            -(e.p_correct if e.p_correct is not None else 0.0),
            -e.candidate.quality_prior,
            e.cost,
            e.latency_ms,
        ),
    )


def cheapest_first(estimates: Sequence[Estimate]) -> list[Estimate]:
    """Cheapest first, then better predicted quality, then faster (cascade order)."""
    return sorted(
        estimates,
        key=lambda e: (
            e.candidate.saturated,
            round(e.cost, 9),
            -(e.p_correct if e.p_correct is not None else e.candidate.quality_prior),
            e.latency_ms,
            not e.candidate.is_local,
        ),
    )
