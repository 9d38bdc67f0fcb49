"""The knowledge match's weight moves with labelled answers, per kind of question, within tens of rows."""

from __future__ import annotations

import numpy as np
import pytest
from peermind.federated import KnowledgeValue, MatchOutcome

DIM = 384


def topic(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM)
    return v / np.linalg.norm(v)


def near(centre: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return centre + 0.02 * rng.standard_normal(DIM)


def outcomes(centre: np.ndarray, n: int, *, correct_rate: float, baseline: float, seed: int) -> list[MatchOutcome]:
    """``n`` answers from matching peers on questions near ``centre``, right at ``correct_rate``."""
    rng = np.random.default_rng(seed)
    return [MatchOutcome(near(centre, rng), 0.3, bool(i < round(correct_rate * n)), baseline) for i in range(n)]


def test_without_labelled_answers_the_configured_weight_stands() -> None:
    value = KnowledgeValue(DIM, 1.0)
    assert value.weight(topic(1)).weight == 1.0 and value.weight(topic(1)).answers == 0


def test_the_weight_moves_with_evidence_in_tens_of_rows_and_per_kind_of_question() -> None:
    needs_docs, knows_anyway = topic(1), topic(2)
    value = KnowledgeValue(DIM, 1.0)
    up, down = [], []
    for n in (10, 20, 30):
        # Where the documents are needed, matching peers are right far more often than the model alone would be;
        # where the model knows the answer anyway, matching peers do no better than predicted.
        value.fit(outcomes(needs_docs, n, correct_rate=0.9, baseline=0.3, seed=n)
                  + outcomes(knows_anyway, n, correct_rate=0.8, baseline=0.8, seed=100 + n))
        up.append(value.weight(near(needs_docs, np.random.default_rng(7))).weight)
        down.append(value.weight(near(knows_anyway, np.random.default_rng(8))).weight)
    assert up == sorted(up) and up[0] > 1.2 and up[-1] == pytest.approx(0.6 / 0.3, abs=0.25)
    assert down == sorted(down, reverse=True) and down[0] < 0.5 and down[-1] < 0.2


def test_malformed_rows_are_skipped_and_the_weight_stays_in_bounds() -> None:
    value = KnowledgeValue(DIM, 1.0)
    bad = [MatchOutcome(np.zeros(DIM), 0.3, True, 0.5), MatchOutcome(np.ones(3), 0.3, True, 0.5),
           MatchOutcome(topic(3), 0.0, True, 0.5), MatchOutcome(topic(3), 0.3, True, float("nan"))]
    assert value.fit(bad) == 0
    assert value.fit(outcomes(topic(4), 40, correct_rate=0.0, baseline=1.0, seed=0)) == 40
    assert value.weight(topic(4)).weight == 0.0  # documents that only mislead are worth nothing, never less
