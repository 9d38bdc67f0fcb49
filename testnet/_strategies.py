"""Strategies derived from per-model outcomes, and summaries of the network's own modes.

Each (item, model) is asked once; single-model, random, always-strongest and oracle
baselines are computed from those same outcomes rather than by asking again, so they
are compared on identical answers and the evaluation costs one pass per model.

- ``single:<model>``: that model answers everything.
- ``random``: a peer drawn per item (seeded by the item id, so the draw does not depend
  on order or limits); peers, not models, are drawn, as a naive client would.
- ``always-strongest``: the model with the most parameters (ties: the dearer one).
- ``oracle``: right whenever any model is right, paying for the cheapest right model
  (the cheapest model when none is); an upper bound no real router reaches.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from peermind.bench import StrategyResult, gap_recovered

from ._eval_outcomes import ItemRecord, Outcome, Peer

BASELINES = ("random", "always-strongest", "oracle")


def strongest_model(peers: Sequence[Peer]) -> str:
    return max(peers, key=lambda p: (p.params_m, p.cost_per_1k, p.model)).model


def pick_random_peer(peers: Sequence[Peer], item_id: str, seed: int) -> Peer:
    ordered = sorted(peers, key=lambda p: p.peer_id)
    return random.Random(f"{seed}:{item_id}").choice(ordered)


def oracle_outcome(outcomes: dict[str, Outcome]) -> Outcome:
    right = [o for o in outcomes.values() if o.correct]
    pool = right or list(outcomes.values())
    chosen = min(pool, key=lambda o: (o.cost, o.latency_ms))
    return chosen


def baseline_outcomes(mode: str, records: Sequence[ItemRecord], peers: Sequence[Peer], seed: int) -> list[Outcome]:
    """Per-item outcomes of a baseline derived from the per-model answers."""
    if mode.startswith("single:"):
        model = mode.split(":", 1)[1]
        return [r.per_model[model] for r in records]
    if mode == "always-strongest":
        model = strongest_model(peers)
        return [r.per_model[model] for r in records]
    if mode == "random":
        return [r.per_model[pick_random_peer(peers, r.item_id, seed).model] for r in records]
    if mode == "oracle":
        return [oracle_outcome(r.per_model) for r in records]
    raise ValueError(f"{mode!r} is not a derived baseline")


def summarise(mode: str, outcomes: Sequence[Outcome], extra: dict[str, object] | None = None) -> StrategyResult:
    """A StrategyResult with the shares of answers per model and the error count in ``extra``."""
    info: dict[str, object] = dict(extra or {})
    answered = [o for o in outcomes if not o.error]
    if mode not in BASELINES and not mode.startswith("single:") and answered:
        for model in sorted({o.model for o in answered}):
            info[f"share:{model}"] = round(sum(o.model == model for o in answered) / len(outcomes), 3)
        if any(o.escalated for o in answered):
            info["escalation_rate"] = round(sum(o.escalated for o in answered) / len(outcomes), 3)
        if any(o.asked > 1 for o in answered):
            info["mean_peers_asked"] = round(sum(o.asked for o in answered) / len(answered), 2)
    errors = len(outcomes) - len(answered)
    if errors:
        info["errors"] = errors
    waits = sum(o.retries for o in outcomes)
    if waits:
        info["throttled_retries"] = waits
    return StrategyResult.from_outcomes(
        mode,
        [o.correct for o in outcomes],
        [o.cost for o in answered],
        [o.latency_ms for o in answered],
        extra=info,
    )


def evaluate_strategies(
    records: Sequence[ItemRecord],
    peers: Sequence[Peer],
    modes: Sequence[str],
    seed: int,
) -> list[StrategyResult]:
    """One result per requested mode (network modes read from the records, baselines derived).

    Modes with no outcome on some record (skipped as unsupported) are left out. Network
    modes get ``gap_recovered`` (RouteLLM's PGR against the best single model and the
    oracle) when every item has four or more choices; on binary items a two-model oracle
    is inflated and the figure would mislead.
    """
    results: list[StrategyResult] = []
    if not records:
        return results
    singles = {m: baseline_outcomes(m, records, peers, seed) for m in modes if m.startswith("single:")}
    best_single = oracle_acc = None
    if all(set(r.per_model) == {p.model for p in peers} for r in records):
        n = len(records)
        best_single = max(sum(r.per_model[m].correct for r in records) / n for m in records[0].per_model)
        oracle_acc = sum(o.correct for o in baseline_outcomes("oracle", records, peers, seed)) / n
    wide = all(r.n_choices >= 4 for r in records)
    for mode in modes:
        if mode in BASELINES or mode.startswith("single:"):
            outcomes = singles.get(mode) or baseline_outcomes(mode, records, peers, seed)
            extra: dict[str, object] = {}
            if mode == "always-strongest":
                extra["model"] = strongest_model(peers)
            if mode == "oracle":
                extra["note"] = "upper bound"
            results.append(summarise(mode, outcomes, extra))
            continue
        if not all(mode in r.per_mode for r in records):
            continue
        outcomes = [r.per_mode[mode] for r in records]
        extra = {}
        if wide and best_single is not None and oracle_acc is not None:
            acc = sum(o.correct for o in outcomes) / len(outcomes)
            pgr = gap_recovered(acc, best_single, oracle_acc)
            if pgr is not None:
                extra["gap_recovered"] = round(pgr, 3)
        results.append(summarise(mode, outcomes, extra))
    return results
