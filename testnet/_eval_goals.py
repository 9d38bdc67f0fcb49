"""Issue 12's goal figures, computed from per-item outcomes (pure; no I/O).

Every comparison is paired: the default mode and the baseline answered the same items,
so the noise that matters is that of the per-item difference, not of each accuracy on
its own. Two kinds of interval are used:

- per dataset, "default mode not below the best single model beyond its CI": the 95%
  normal interval of the mean paired difference (default - best single, each item
  -1, 0 or +1); the goal is missed only when that whole interval is below zero;
- pooled ratios (accuracy and mean cost as a share of always-strongest's) and PGR: a
  seeded percentile bootstrap over items (the same resamples for numerator and
  denominator), so a figure is reproducible from the per-item file.

A verdict is taken on the point estimate; when the interval straddles the threshold the
check says so ("inside the noise"), as the evaluation rules ask.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ._eval_outcomes import ItemRecord, Outcome

GOAL_DATASETS = ("arc_easy", "arc_challenge", "sciq", "csqa")  # the pooled goal's datasets
MIN_ACCURACY_SHARE = 0.97  # of always-strongest's accuracy
MAX_COST_SHARE = 0.50  # of always-strongest's mean cost
BOOTSTRAP_RESAMPLES = 2000
Z95 = 1.96


@dataclass(frozen=True)
class Interval:
    value: float
    lo: float
    hi: float

    def fmt(self, scale: float = 100.0, unit: str = "%") -> str:
        if not math.isfinite(self.value):
            return "n/a"
        return f"{scale * self.value:.1f}{unit} (95% CI {scale * self.lo:.1f} to {scale * self.hi:.1f})"


@dataclass(frozen=True)
class GoalCheck:
    """One goal on one scope: the measured figure, and met / missed / not applicable (None)."""

    goal: str
    scope: str
    figure: str
    met: bool | None
    noise: bool = False  # the interval straddles the threshold
    n: int = 0

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "reported"
        word = "met" if self.met else "missed"
        return f"{word} (inside the noise)" if self.noise else word

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


def paired_difference(a: Sequence[bool], b: Sequence[bool]) -> Interval:
    """Mean of a_i - b_i with its 95% normal interval (items paired by position)."""
    if len(a) != len(b):
        raise ValueError(f"paired outcomes differ in length: {len(a)} vs {len(b)}")
    n = len(a)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan)
    diffs = [int(x) - int(y) for x, y in zip(a, b, strict=True)]
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    half = Z95 * math.sqrt(var / n)
    return Interval(mean, mean - half, mean + half)


def bootstrap(statistic: Callable[[Sequence[int]], float], n: int, seed: int,
              resamples: int = BOOTSTRAP_RESAMPLES) -> Interval:
    """``statistic`` on all items and its 95% percentile interval over item resamples.

    ``statistic`` receives a list of item indices; resamples where it is not finite
    (e.g. a zero denominator) are dropped.
    """
    if n == 0:
        return Interval(math.nan, math.nan, math.nan)
    full = statistic(list(range(n)))
    rng = random.Random(seed)
    values = []
    for _ in range(resamples):
        v = statistic([rng.randrange(n) for _ in range(n)])
        if math.isfinite(v):
            values.append(v)
    if not values:
        return Interval(full, math.nan, math.nan)
    values.sort()
    lo = values[int(0.025 * (len(values) - 1))]
    hi = values[int(math.ceil(0.975 * (len(values) - 1)))]
    return Interval(full, lo, hi)


def _acc(outcomes: Sequence[Outcome], idx: Sequence[int]) -> float:
    return sum(outcomes[i].correct for i in idx) / len(idx) if idx else math.nan


def _mean_cost(outcomes: Sequence[Outcome], idx: Sequence[int]) -> float:
    costs = [outcomes[i].cost for i in idx if not outcomes[i].error]
    return sum(costs) / len(costs) if costs else math.nan


def _ratio(num: float, den: float) -> float:
    return num / den if den and math.isfinite(num) and math.isfinite(den) else math.nan


def best_single_model(records: Sequence[ItemRecord]) -> str:
    """The model with the most right answers on these items (ties: name order)."""
    models = sorted(set.intersection(*(set(r.per_model) for r in records))) if records else []
    if not models:
        raise ValueError("no model answered every item")
    return max(models, key=lambda m: (sum(r.per_model[m].correct for r in records), -models.index(m)))


def dataset_goal(records: Sequence[ItemRecord], mode_key: str, scope: str) -> GoalCheck:
    """Default mode not below the best single model beyond the paired 95% interval."""
    rows = [r for r in records if mode_key in r.per_mode]
    if not rows:
        return GoalCheck("not below the best single model", scope, "no answers", None)
    best = best_single_model(rows)
    mine = [r.per_mode[mode_key].correct for r in rows]
    theirs = [r.per_model[best].correct for r in rows]
    diff = paired_difference(mine, theirs)
    acc_mine, acc_best = sum(mine) / len(rows), sum(theirs) / len(rows)
    figure = (f"{100 * acc_mine:.1f}% vs {best} {100 * acc_best:.1f}%; difference "
              f"{100 * diff.value:+.1f} points (95% CI {100 * diff.lo:+.1f} to {100 * diff.hi:+.1f})")
    met = diff.hi >= 0
    noise = diff.lo < 0 <= diff.hi
    return GoalCheck("not below the best single model", scope, figure, met, noise and diff.value < 0, len(rows))


def pooled_goals(records: Sequence[ItemRecord], mode_key: str, strongest: str, seed: int,
                 datasets: Sequence[str] = GOAL_DATASETS) -> list[GoalCheck]:
    """Accuracy >= 97% and mean cost <= 50% of always-strongest's, pooled over ``datasets``."""
    present = sorted({r.dataset for r in records if r.dataset in datasets}, key=list(datasets).index)
    rows = [r for r in records if r.dataset in present and mode_key in r.per_mode and strongest in r.per_model]
    scope = "pooled " + "+".join(present) + ("" if len(present) == len(datasets) else f" ({len(present)} of {len(datasets)} goal datasets)")
    if not rows:
        return [GoalCheck("accuracy >= 97% of always-strongest", "pooled goal datasets", "no answers", None)]
    mine = [r.per_mode[mode_key] for r in rows]
    strong = [r.per_model[strongest] for r in rows]
    acc = bootstrap(lambda idx: _ratio(_acc(mine, idx), _acc(strong, idx)), len(rows), seed)
    cost = bootstrap(lambda idx: _ratio(_mean_cost(mine, idx), _mean_cost(strong, idx)), len(rows), seed + 1)
    every = list(range(len(rows)))
    acc_fig = f"{acc.fmt()} of always-strongest ({100 * _acc(mine, every):.1f}% vs {100 * _acc(strong, every):.1f}%)"
    cost_fig = f"{cost.fmt()} of always-strongest's mean cost"
    return [
        GoalCheck(f"accuracy >= {MIN_ACCURACY_SHARE:.0%} of always-strongest", scope, acc_fig,
                  acc.value >= MIN_ACCURACY_SHARE, _straddles(acc, MIN_ACCURACY_SHARE), len(rows)),
        GoalCheck(f"mean cost <= {MAX_COST_SHARE:.0%} of always-strongest", scope, cost_fig,
                  cost.value <= MAX_COST_SHARE, _straddles(cost, MAX_COST_SHARE), len(rows)),
    ]


def pgr(records: Sequence[ItemRecord], mode_key: str, seed: int, scope: str) -> GoalCheck:
    """Performance gap recovered, (mode - best single) / (oracle - best single), with a bootstrap CI.

    The best single model is re-chosen in every resample, as it would be on new data.
    """
    rows = [r for r in records if mode_key in r.per_mode]
    models = sorted(set.intersection(*(set(r.per_model) for r in rows))) if rows else []
    if not rows or len(models) < 2:
        return GoalCheck("performance gap recovered (PGR)", scope, "needs two models on every item", None)

    def statistic(idx: Sequence[int]) -> float:
        if not idx:
            return math.nan
        best = max(sum(rows[i].per_model[m].correct for i in idx) for m in models)
        oracle = sum(any(rows[i].per_model[m].correct for m in models) for i in idx)
        mine = sum(rows[i].per_mode[mode_key].correct for i in idx)
        return (mine - best) / (oracle - best) if oracle > best else math.nan

    value = bootstrap(statistic, len(rows), seed + 2)
    binary = any(0 < r.n_choices < 4 for r in rows)
    note = "; two-way items included: the oracle is inflated" if binary else ""
    n = len(rows)
    best = max(sum(r.per_model[m].correct for r in rows) for m in models)
    gap = sum(any(r.per_model[m].correct for m in models) for r in rows) - best
    figure = (f"{value.fmt()}; oracle - best single model = {gap} of {n} items"
              + (", too few for a stable ratio" if gap < 10 else "")) if gap > 0 else \
        "n/a: the oracle is no better than the best single model"
    return GoalCheck("performance gap recovered (PGR)", scope, figure + note, None, n=len(rows))


def goal_checks(records: Sequence[ItemRecord], mode_key: str, strongest: str, seed: int) -> list[GoalCheck]:
    """Every goal of issue 12 for one answering mode (``per_mode`` key) on these records."""
    checks = [dataset_goal([r for r in records if r.dataset == name], mode_key, name)
              for name in dict.fromkeys(r.dataset for r in records)]
    checks += pooled_goals(records, mode_key, strongest, seed)
    present = [d for d in GOAL_DATASETS if any(r.dataset == d for r in records)]
    pool = [r for r in records if r.dataset in present] or list(records)
    checks.append(pgr(pool, mode_key, seed, "pooled " + "+".join(present or sorted({r.dataset for r in records}))))
    return checks


def _straddles(interval: Interval, threshold: float) -> bool:
    return math.isfinite(interval.lo) and interval.lo <= threshold <= interval.hi


def goals_markdown(title: str, checks: Sequence[GoalCheck]) -> list[str]:
    """Markdown lines: one table row per check."""
    lines = [f"**{title}**", "", "| goal | scope | n | measured | verdict |", "|---|---|---:|---|---|"]
    lines += [f"| {c.goal} | {c.scope} | {c.n} | {c.figure} | {c.verdict} |" for c in checks]
    return lines + [""]
