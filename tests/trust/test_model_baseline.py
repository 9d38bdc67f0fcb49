"""ModelBaseline: each model's expected canary accuracy, learned from every source serving it."""

from __future__ import annotations

import pytest
from _trustpeers import pid
from peermind.trust import SELF_SOURCE, InvalidInput, ModelBaseline
from peermind.trust._model_baseline import MAX_MODELS

P, Q, R = pid("p"), pid("q"), pid("r")


def _feed(b: ModelBaseline, model: str, source: str, right: int, wrong: int) -> None:
    for _ in range(right):
        b.add(model, source, True)
    for _ in range(wrong):
        b.add(model, source, False)


def test_expectation_follows_the_results_of_every_source_serving_the_model() -> None:
    b = ModelBaseline(caution=0.0)
    _feed(b, "gemma", Q, 15, 35)
    _feed(b, "gemma", R, 25, 25)
    assert b.counts("gemma") == (40.0, 100.0)
    prior = 0.25 + 0.5 * (0.5 - 0.25)  # nothing else measured: half-way between chance and prior_mean
    assert b.expected("gemma", choices=4) == pytest.approx((4 * prior + 40) / 104, abs=1e-3)
    # one chatty source counts as at most 50 results, and its recent ones weigh most
    for _ in range(100):
        _feed(b, "gemma", R, 1, 1)
    _feed(b, "gemma", R, 0, 50)
    assert b.counts("gemma", leave_out={Q})[1] == pytest.approx(50.0)
    assert b.counts("gemma", leave_out={Q})[0] < 10


def test_the_judged_peer_is_left_out_so_a_liar_cannot_lower_its_own_bar() -> None:
    b = ModelBaseline(caution=0.0)
    _feed(b, "smollm2", SELF_SOURCE, 30, 20)  # this node's own model: 60%
    _feed(b, "smollm2", P, 0, 50)  # the liar
    assert b.expected("smollm2", choices=4) < 0.35  # with the liar counted
    assert b.expected("smollm2", choices=4, leave_out={P}) == pytest.approx((4 * 0.375 + 30) / 54, abs=1e-3)


def test_the_expectation_is_floored_at_chance_level() -> None:
    b = ModelBaseline()
    _feed(b, "tiny", Q, 5, 45)  # 10% on 4-way items: below chance
    assert b.expected("tiny", choices=4) == 0.25
    assert b.expected("tiny", choices=5) == 0.2


def test_an_unmeasured_model_gets_the_benefit_of_the_doubt() -> None:
    b = ModelBaseline(prior_mean=0.5, prior_weight=4, caution=0.0)
    assert b.expected("new", choices=4) == 0.375  # half-way from chance to the pooled prior
    _feed(b, "smollm2", SELF_SOURCE, 35, 15)  # the network's models: 70%
    pooled = (4 * 0.5 + 35) / 54
    assert b.expected("new", choices=4) == pytest.approx(0.25 + 0.5 * (pooled - 0.25), abs=1e-3)
    # a few results of its own move it at once (prior weight 4)
    _feed(b, "new", Q, 8, 0)
    assert b.expected("new", choices=4) > 0.75


def test_caution_moves_a_little_measured_expectation_towards_chance() -> None:
    cautious, exact = ModelBaseline(), ModelBaseline(caution=0.0)
    for b in (cautious, exact):
        _feed(b, "m", Q, 6, 2)
    assert cautious.expected("m", choices=4) < exact.expected("m", choices=4) - 0.1
    for b in (cautious, exact):
        _feed(b, "m", R, 36, 12)
    assert cautious.expected("m", choices=4) == pytest.approx(exact.expected("m", choices=4), abs=0.07)


def test_on_items_this_nodes_model_missed_a_same_model_peer_is_expected_to_miss_too() -> None:
    b = ModelBaseline(own_model="smollm2")
    _feed(b, "smollm2", SELF_SOURCE, 25, 25)
    overall = b.expected("smollm2", choices=4)
    right = b.expected("smollm2", choices=4, local_right=True)
    wrong = b.expected("smollm2", choices=4, local_right=False)
    assert wrong < 0.25 < overall < right  # below chance: a right answer there is a deviation
    # another model's strata are learned from its peers' results, its overall mean the prior
    for _ in range(30):
        b.add("gemma", Q, True, local_right=False)
        b.add("gemma", Q, False, local_right=True)
    assert b.expected("gemma", choices=4, local_right=False) > b.expected("gemma", choices=4, local_right=True)
    assert b.counts("gemma", local_right=False) == (30.0, 30.0)
    b.add("smollm2", SELF_SOURCE, True, local_right=True)  # this node's own results never enter a stratum
    assert b.counts("smollm2", local_right=True) == (0.0, 0.0)


def test_bad_input_is_a_typed_error() -> None:
    b = ModelBaseline()
    with pytest.raises(InvalidInput):
        b.add("", Q, True)
    with pytest.raises(InvalidInput):
        b.expected("m", choices=1)
    with pytest.raises(InvalidInput):
        ModelBaseline(prior_mean=1.0)
    assert [s.model for s in b.stats()] == []


def test_made_up_model_names_cannot_grow_the_baseline_without_bound() -> None:
    b = ModelBaseline()
    for i in range(MAX_MODELS + 50):
        b.add(f"model-{i}", Q, True)
    assert len(list(b.models())) == MAX_MODELS
    assert b.counts(f"model-{MAX_MODELS + 1}") == (0.0, 0.0)
