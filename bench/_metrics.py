"""Scoring numerics: accuracy with a Wilson interval, percentiles, gap recovered, choice picking."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ._errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class Accuracy:
    """A proportion with its confidence interval; n=0 gives value 0 and the full [0, 1]."""

    value: float
    lo: float
    hi: float
    n: int


def accuracy_ci(correct: Sequence[bool], z: float = 1.96) -> Accuracy:
    """Accuracy and its Wilson score interval (sound at small n and near 0 or 1)."""
    if not z > 0 or not math.isfinite(z):
        raise InvalidArgument(f"z must be a positive number, got {z!r}")
    n = len(correct)
    if n == 0:
        return Accuracy(0.0, 0.0, 1.0, 0)
    k = sum(1 for c in correct if c)
    p = k / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return Accuracy(p, max(0.0, centre - half), min(1.0, centre + half), n)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        raise InvalidArgument("percentile of an empty sequence is undefined")
    if not 0 <= q <= 100:
        raise InvalidArgument(f"q must be within 0..100, got {q!r}")
    ordered = sorted(float(v) for v in values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def gap_recovered(router_acc: float, best_single_acc: float, oracle_acc: float) -> float | None:
    """RouteLLM's performance gap recovered: (router - best) / (oracle - best).

    1.0 means the router matches the oracle, 0 the best single model, < 0 worse
    than it. None when the oracle is no better than the best model (no gap).
    """
    gap = oracle_acc - best_single_acc
    if math.isclose(gap, 0.0, abs_tol=1e-12):
        return None
    return (router_acc - best_single_acc) / gap


def normalized_choice(scores: Sequence[tuple[float, int]]) -> int:
    """Index of the best (logprob_sum, n_tokens) by logprob per token; ties go to the lowest index.

    Normalising by length keeps long answers from losing just for having more tokens.
    """
    if not scores:
        raise InvalidArgument("normalized_choice needs at least one (logprob, n_tokens) score")
    best_index, best_value = -1, -math.inf
    for index, (logprob, n_tokens) in enumerate(scores):
        if n_tokens <= 0:
            raise InvalidArgument(f"choice {index} has {n_tokens} tokens; each continuation needs at least one")
        value = logprob / n_tokens
        if math.isnan(value):
            value = -math.inf
        if best_index < 0 or value > best_value:
            best_index, best_value = index, value
    return best_index
