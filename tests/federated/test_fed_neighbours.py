"""NeighbourRouter: per-kind-of-question quality from labelled rows, learned within tens of rows."""

from __future__ import annotations

import numpy as np
import pytest
from peermind.federated import InvalidEmbedding, NeighbourRouter

DIM = 16


def cluster(centre: int, n: int, rng: np.random.Generator, spread: float = 0.15) -> np.ndarray:
    """``n`` unit vectors around basis direction ``centre``: one "kind of question"."""
    base = np.zeros(DIM)
    base[centre] = 1.0
    x = base + spread * rng.standard_normal((n, DIM))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_prior_only_without_rows_uses_the_given_mean_or_half() -> None:
    router = NeighbourRouter(DIM)
    q = cluster(0, 1, np.random.default_rng(0))[0]
    assert router.posterior(q, "a").mean == pytest.approx(0.5)
    assert router.posterior(q, "a", prior_mean=0.8).mean == pytest.approx(0.8)
    assert router.posterior(q, "a").neighbours == 0


def test_each_model_wins_on_its_own_kind_of_question_within_tens_of_rows() -> None:
    """Model A is right on kind 0 and wrong on kind 1; model B the reverse; 20 rows each."""
    rng = np.random.default_rng(1)
    router = NeighbourRouter(DIM)
    for x in cluster(0, 10, rng):
        router.add(x, "a", True)
        router.add(x, "b", False)
    for x in cluster(1, 10, rng):
        router.add(x, "a", False)
        router.add(x, "b", True)
    q0, q1 = cluster(0, 1, rng)[0], cluster(1, 1, rng)[0]
    assert router.posterior(q0, "a").mean > 0.7 > 0.3 > router.posterior(q0, "b").mean
    assert router.posterior(q1, "b").mean > 0.7 > 0.3 > router.posterior(q1, "a").mean


def test_evidence_overrides_a_wrong_prior() -> None:
    """"Bigger is better" as a prior loses to labelled answers on this kind of question."""
    rng = np.random.default_rng(2)
    router = NeighbourRouter(DIM)
    for x in cluster(3, 12, rng):
        router.add(x, "big", False)
    q = cluster(3, 1, rng)[0]
    assert router.posterior(q, "big", prior_mean=0.9).mean < 0.45


def test_far_rows_count_less_than_near_ones() -> None:
    rng = np.random.default_rng(3)
    router = NeighbourRouter(DIM)
    for x in cluster(5, 20, rng):
        router.add(x, "m", False)
    near = router.posterior(cluster(5, 1, rng)[0], "m", prior_mean=0.8)
    far = router.posterior(cluster(9, 1, rng)[0], "m", prior_mean=0.8)
    assert near.mean < far.mean
    assert far.similarity < near.similarity


def test_uncertainty_shrinks_with_rows_and_draws_stay_in_range() -> None:
    rng = np.random.default_rng(4)
    router = NeighbourRouter(DIM)
    q = cluster(2, 1, rng)[0]
    wide = router.posterior(q, "m").stdev
    for x in cluster(2, 30, rng):
        router.add(x, "m", bool(rng.random() < 0.5))
    post = router.posterior(q, "m")
    assert post.stdev < wide
    draws = [post.sample(rng) for _ in range(50)]
    assert all(0.0 <= d <= 1.0 for d in draws)


def test_accuracy_is_shrunk_towards_half_and_bad_embeddings_are_refused() -> None:
    router = NeighbourRouter(DIM)
    assert router.accuracy("m") is None
    x = np.ones(DIM)
    router.add(x, "m", True)
    assert 0.5 < router.accuracy("m") < 1.0  # type: ignore[operator]
    with pytest.raises(InvalidEmbedding):
        router.add(np.zeros(DIM), "m", True)
    with pytest.raises(InvalidEmbedding):
        router.add(np.ones(DIM + 1), "m", True)
    kept = router.extend([(np.ones(DIM), "m", False), (np.full(DIM, np.nan), "m", True)])
    assert kept == 1 and router.rows_of("m") == 2 and len(router) == 2
