"""Fitting the router and tuning the modes' knobs on the VALIDATION split (pure numpy).

- ``fit_router``: logistic heads on the train rows; L2 strength and epochs chosen by
  validation log loss from a small grid (convex problem: a few seconds on 2 cores).
- ``escalation_thresholds``: per model, the confidence quantile at the target
  escalation rate, so "confidence < threshold" escalates that share of queries.
- ``choose_cost_weight``: the route utility's lambda with the best validation accuracy
  among those that send at most ``target_share`` of queries to the dearest model.
- ``routing_report``: single-model, oracle, random and router accuracy on validation
  queries that every model answered, for ``peermind router status``.
The test split is never read here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NotRequired, TypedDict

import numpy as np
from peermind.federated import FeatureSchema, FeedbackRow, RouterModel

FIT_GRID: tuple[tuple[float, int], ...] = ((1e-3, 200), (1e-2, 150), (3e-2, 100), (1e-1, 100))
COST_WEIGHT_GRID = tuple(float(x) for x in np.round(np.concatenate([np.arange(0, 0.2, 0.005), np.arange(0.2, 1.01, 0.05)]), 4))


class FitMetrics(TypedDict):
    """How the chosen grid point fitted: its knobs, train loss and (when there are
    validation rows) ``RouterModel.evaluate`` on them."""

    l2: float
    epochs: int
    train_loss: float
    train_rows: int
    validation: NotRequired[dict[str, float]]


class EscalationChoice(TypedDict):
    """A cascade's escalation rate on validation: its threshold, accuracy and the share escalated."""

    rate: float
    threshold: float
    accuracy: float
    escalated: float


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """Single-threaded BLAS: on a busy 2-core host a threaded OpenBLAS GD step was 8x slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional speed-up, not a requirement
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


def fit_router(schema: FeatureSchema, train: Sequence[FeedbackRow], validation: Sequence[FeedbackRow]) -> tuple[RouterModel, FitMetrics]:
    """The grid point with the lowest validation log loss (the first one without validation rows)."""
    with _one_blas_thread():
        return _fit_grid(schema, train, validation)


def _fit_grid(schema: FeatureSchema, train: Sequence[FeedbackRow], validation: Sequence[FeedbackRow]) -> tuple[RouterModel, FitMetrics]:
    best: tuple[float, RouterModel, FitMetrics] | None = None
    grid = FIT_GRID if validation else FIT_GRID[:1]
    for l2, epochs in grid:
        model = RouterModel(schema)
        fit = model.fit(list(train), epochs=epochs, lr=1.0, l2=l2)
        metrics: FitMetrics = {"l2": l2, "epochs": epochs, "train_loss": fit["loss_after"], "train_rows": int(fit["rows"])}
        if validation:
            metrics["validation"] = evaluated = model.evaluate(list(validation))
            loss = evaluated["log_loss"]
        else:
            loss = fit["loss_after"]
        if best is None or loss < best[0]:
            best = (loss, model, metrics)
    assert best is not None
    return best[1], best[2]


def escalation_thresholds(confidences: Mapping[str, Sequence[float]], target_rate: float) -> dict[str, float]:
    """Per model: the ``target_rate`` quantile of its validation confidences."""
    out = {}
    for model, values in confidences.items():
        finite = [v for v in values if np.isfinite(v)]
        if finite:
            out[model] = float(np.quantile(np.asarray(finite), target_rate))
    return out


ESCALATION_BAND = (0.3, 0.5)
"""Escalation rates a cascade may be calibrated to when no target is given."""


def cascade_outcome(triples: Sequence[tuple[float, bool, bool]], threshold: float) -> tuple[float, float]:
    """(accuracy, escalation rate) of a two-tier cascade on (cheap confidence, cheap right, strong right)."""
    if not triples:
        return float("nan"), 0.0
    escalate = [conf < threshold for conf, _c, _s in triples]
    right = [s if e else c for (_conf, c, s), e in zip(triples, escalate, strict=True)]
    return float(np.mean(right)), float(np.mean(escalate))


def choose_escalation_rate(triples: Sequence[tuple[float, bool, bool]], band: tuple[float, float] = ESCALATION_BAND,
                           step: float = 0.025) -> tuple[float, EscalationChoice]:
    """The rate in ``band`` whose threshold gives the best validation cascade accuracy (ties: the lower rate)."""
    confs = np.asarray([t[0] for t in triples])
    best: tuple[float, float, EscalationChoice] | None = None
    for rate in np.arange(band[0], band[1] + 1e-9, step):
        threshold = float(np.quantile(confs, rate))
        acc, actual = cascade_outcome(triples, threshold)
        if best is None or acc > best[1] + 1e-12:
            best = (float(round(rate, 4)), acc, {"rate": float(round(rate, 4)), "threshold": threshold,
                                                 "accuracy": acc, "escalated": actual})
    assert best is not None
    return best[0], best[2]


@dataclass(frozen=True)
class Query:
    """One validation query answered by every model: predictions and outcomes per model."""

    p: dict[str, float]
    correct: dict[str, bool]


def group_queries(model: RouterModel, rows: Sequence[FeedbackRow], models: Sequence[str]) -> list[Query]:
    """Validation rows grouped by question, with the router's prediction per model."""
    by_query: dict[str, dict[str, FeedbackRow]] = {}
    for r in rows:
        if r.query_id and r.model_key in models:
            by_query.setdefault(r.query_id, {})[r.model_key] = r
    out = []
    for per_model in by_query.values():
        if len(per_model) != len(models):
            continue
        emb = next(iter(per_model.values())).embedding
        probs = model.predict_all(emb)
        out.append(Query({m: float(probs[m]) for m in models}, {m: per_model[m].correct for m in models}))
    return out


def _route(q: Query, cost_weight: float, rel_cost: Mapping[str, float]) -> str:
    return max(q.p, key=lambda m: (q.p[m] - cost_weight * rel_cost[m], -rel_cost[m]))


def choose_cost_weight(queries: Sequence[Query], rel_cost: Mapping[str, float], target_share: float) -> tuple[float, dict[str, float]]:
    """(lambda, its validation accuracy and share to the dearest model)."""
    dearest = max(rel_cost, key=lambda m: rel_cost[m])
    best: tuple[float, float, dict[str, float]] | None = None
    for lam in COST_WEIGHT_GRID:
        picks = [_route(q, lam, rel_cost) for q in queries]
        acc = float(np.mean([q.correct[m] for q, m in zip(queries, picks, strict=True)])) if queries else float("nan")
        share = float(np.mean([m == dearest for m in picks])) if queries else 0.0
        if share <= target_share + 1e-9 and (best is None or acc > best[1] + 1e-12):
            best = (lam, acc, {"accuracy": acc, "share_to_dearest": share})
    if best is None:  # unreachable: a large lambda always routes to the cheapest
        return COST_WEIGHT_GRID[-1], {}
    return best[0], best[2]


def routing_report(queries: Sequence[Query], rel_cost: Mapping[str, float], cost_weight: float) -> dict[str, object]:
    """Accuracy and cost of routing the validation questions at ``cost_weight``."""
    if not queries:
        return {"queries": 0}
    models = list(queries[0].p)
    single = {m: float(np.mean([q.correct[m] for q in queries])) for m in models}
    oracle = float(np.mean([any(q.correct.values()) for q in queries]))
    picks = [_route(q, cost_weight, rel_cost) for q in queries]
    router = float(np.mean([q.correct[m] for q, m in zip(queries, picks, strict=True)]))
    dearest = max(rel_cost, key=lambda m: rel_cost[m])
    best_single = max(single.values())
    gap = oracle - best_single
    return {
        "queries": len(queries),
        "single": single,
        "oracle": oracle,
        "random": float(np.mean(list(single.values()))),
        "router": router,
        "router_share_to_dearest": float(np.mean([m == dearest for m in picks])),
        "gap_recovered": (router - best_single) / gap if gap > 1e-12 else None,
    }


def relative_costs(costs: Mapping[str, float]) -> dict[str, float]:
    """Each model's price relative to the cheapest."""
    top = max(costs.values()) or 1.0
    return {m: c / top for m, c in costs.items()}
