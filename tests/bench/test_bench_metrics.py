"""Metric numerics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from peermind.bench import (
    InvalidArgument,
    accuracy_ci,
    gap_recovered,
    normalized_choice,
    percentile,
)


def test_wilson_interval_matches_hand_computation() -> None:
    # 8 of 10 right, z = 1.96: p = 0.8, centre = (0.8 + 1.9208/10) / 1.38416 = 0.716738,
    # half = 1.96 * sqrt(0.016 + 0.009604) / 1.38416 = 0.226581 -> [0.490157, 0.943319].
    acc = accuracy_ci([True] * 8 + [False] * 2)
    assert acc.n == 10 and acc.value == pytest.approx(0.8)
    assert acc.lo == pytest.approx(0.490157, abs=1e-6)
    assert acc.hi == pytest.approx(0.943319, abs=1e-6)


def test_wilson_edges() -> None:
    empty = accuracy_ci([])
    assert (empty.value, empty.lo, empty.hi, empty.n) == (0.0, 0.0, 1.0, 0)
    perfect = accuracy_ci([True] * 20)
    assert perfect.value == 1.0 and perfect.hi == pytest.approx(1.0) and 0.8 < perfect.lo < 0.9
    none = accuracy_ci([False] * 20)
    assert none.lo == pytest.approx(0.0) and 0.1 < none.hi < 0.2
    wider = accuracy_ci([True, False] * 50, z=2.576)
    narrower = accuracy_ci([True, False] * 50)
    assert wider.lo < narrower.lo < narrower.hi < wider.hi
    with pytest.raises(InvalidArgument):
        accuracy_ci([True], z=0)


def test_percentile_matches_numpy_linear() -> None:
    values = [12.0, 3.5, 7.0, 100.0, 42.0, 8.25]
    for q in (0, 5, 50, 90, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([5.0], 95) == 5.0
    with pytest.raises(InvalidArgument):
        percentile([], 50)
    with pytest.raises(InvalidArgument):
        percentile([1.0], 101)


def test_gap_recovered() -> None:
    assert gap_recovered(0.60, 0.55, 0.67) == pytest.approx(0.05 / 0.12)
    assert gap_recovered(0.67, 0.55, 0.67) == pytest.approx(1.0)
    assert gap_recovered(0.50, 0.55, 0.67) < 0
    assert gap_recovered(0.5, 0.6, 0.6) is None


def test_normalized_choice_uses_per_token_logprob_and_lowest_index_on_ties() -> None:
    # Raw sums would pick 0 (-3.0 > -4.0); per token, choice 1 wins (-1.0 > -1.5).
    assert normalized_choice([(-3.0, 2), (-4.0, 4), (-9.0, 3)]) == 1
    assert normalized_choice([(-2.0, 2), (-1.0, 1), (-4.0, 4)]) == 0
    assert normalized_choice([(math.nan, 1), (-50.0, 1)]) == 1
    with pytest.raises(InvalidArgument):
        normalized_choice([])
    with pytest.raises(InvalidArgument):
        normalized_choice([(-1.0, 0)])
