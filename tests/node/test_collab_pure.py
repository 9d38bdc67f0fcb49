"""Pure collaboration logic: confidence, vote combination, utility, options, calibration math."""

from __future__ import annotations

import math

import numpy as np
import pytest
from collab_fakes import LARGE, SMALL, candidate
from peermind.bench import normalized_choice
from peermind.federated import FeatureSchema, FeedbackRow
from peermind.node.collab.calibration import (
    Query,
    choose_cost_weight,
    escalation_thresholds,
    fit_router,
    routing_report,
)
from peermind.node.collab.confidence import (
    as_scores,
    choice_distribution,
    majority_choice,
    majority_text,
    mc_confidence,
    normalise_answer,
    weighted_mixture,
)
from peermind.node.collab.constraints import InvalidOptions, parse_request_options
from peermind.node.collab.errors import InfeasibleConstraints
from peermind.node.collab.utility import estimate, require_quality


# ---------------------------------------------------------------- confidence
def test_choice_distribution_normalises_by_length() -> None:
    # choice 0: -4 over 4 tokens (-1/token) beats choice 1: -1.5 over 1 token
    dist = choice_distribution([(-4.0, 4), (-1.5, 1)])
    assert dist[0] > dist[1] and math.isclose(sum(dist), 1.0)
    # confidence: the pick's probability under the *total* log-likelihoods (here it loses: -4 < -1.5)
    assert mc_confidence([(-4.0, 4), (-1.5, 1)]) == pytest.approx(math.exp(-4) / (math.exp(-4) + math.exp(-1.5)))
    assert mc_confidence([(-1.0, 1), (-3.0, 1)]) == pytest.approx(1 / (1 + math.exp(-2)))


def test_combined_scores_pick_the_same_choice_as_bench() -> None:
    dist = [0.1, 0.6, 0.3]
    assert normalized_choice(as_scores(dist)) == 1


def test_majority_tie_goes_to_the_higher_summed_probability() -> None:
    winner, combined = majority_choice([0, 1], [[0.55, 0.45], [0.2, 0.8]])
    assert winner == 1  # one vote each; 0.45 + 0.8 > 0.55 + 0.2
    assert combined.index(max(combined)) == 1
    winner, _ = majority_choice([0, 0, 1], [[0.5, 0.5], [0.5, 0.5], [0.01, 0.99]])
    assert winner == 0  # the plurality wins over confidence


def test_weighted_mixture_uses_weights_and_survives_zero_weights() -> None:
    assert weighted_mixture([[1, 0], [0, 1]], [3, 1]) == [0.75, 0.25]
    assert weighted_mixture([[1, 0], [0, 1]], [0, 0]) == [0.5, 0.5]


@pytest.mark.parametrize(("a", "b"), [("The answer is 1,200.", "1200"), ("Paris.", "paris"), ("An apple", "apple")])
def test_normalised_answers_agree(a: str, b: str) -> None:
    assert normalise_answer(a) == normalise_answer(b)


def test_majority_text_picks_the_biggest_group_and_its_most_confident_member() -> None:
    speaker, share = majority_text([("Paris", -0.9), ("It is Paris.", -0.2), ("Lyon", -0.1)])
    assert speaker == 0 or speaker == 1
    assert share == pytest.approx(2 / 3)
    assert normalise_answer(["Paris", "It is Paris.", "Lyon"][speaker]) != "lyon"


# ---------------------------------------------------------------- utility
def test_utility_trades_quality_against_cost() -> None:
    small, large = candidate("s", **SMALL), candidate("l", **LARGE)
    preds = {"smollm2": 0.50, "gemma3-270m": 0.60}
    free = estimate([small, large], preds, prompt_tokens=50, max_tokens=1, cost_weight=0.0)
    assert free[0].candidate.peer_id == "l"
    pricey = estimate([small, large], preds, prompt_tokens=50, max_tokens=1, cost_weight=0.3)
    assert pricey[0].candidate.peer_id == "s"  # 0.60 - 0.3 < 0.50 - 0.3 * 0.25


def test_saturated_peers_sort_last_and_trust_weight_applies() -> None:
    a, b = candidate("a", **LARGE, queue=4), candidate("b", **SMALL)
    ranked = estimate([a, b], {}, prompt_tokens=10, max_tokens=1)
    assert [e.candidate.peer_id for e in ranked] == ["b", "a"]
    weighted = estimate([candidate("x", **LARGE), candidate("y", **LARGE)], {"gemma3-270m": 0.6},
                        prompt_tokens=10, max_tokens=1, peer_weight=lambda p: 0.1 if p == "x" else 1.0)
    assert weighted[0].candidate.peer_id == "y"


def test_min_quality_needs_a_trained_head_and_names_the_constraint() -> None:
    cold = estimate([candidate("s", **SMALL)], {}, prompt_tokens=10, max_tokens=1)
    with pytest.raises(InfeasibleConstraints) as info:
        require_quality(cold, 0.5)
    assert info.value.constraint == "min_quality"
    warm = estimate([candidate("s", **SMALL), candidate("l", **LARGE)], {"smollm2": 0.4, "gemma3-270m": 0.7},
                    prompt_tokens=10, max_tokens=1)
    assert [e.candidate.peer_id for e in require_quality(warm, 0.6)] == ["l"]
    with pytest.raises(InfeasibleConstraints, match="0.70, below the minimum 0.90"):
        require_quality(warm, 0.9)


# ---------------------------------------------------------------- options
def test_options_parse_and_reject_bad_values() -> None:
    o = parse_request_options({"mode": "moa", "k": 2, "proposers": ["a", "b"], "aggregator": "c",
                               "require_tags": "eu,gpu", "min_quality": 0.6, "escalate_to": "vote"})
    assert o.mode == "moa" and o.tactics.k == 2 and o.tactics.aggregator == "c"
    assert o.constraints.require_tags == ("eu", "gpu") and o.constraints.min_quality == 0.6
    assert parse_request_options({"mode": "auction"}).tactics.negotiate
    assert parse_request_options({"mode": "local"}).constraints.local_only
    for bad in ({"mode": "telepathy"}, {"k": 0}, {"k": 2.5}, {"min_quality": 2}, {"proposers": "a"},
                {"escalate_to": "moon"}, {"negotiate": "yes"}):
        with pytest.raises(InvalidOptions):
            parse_request_options(bad)


# ---------------------------------------------------------------- calibration
def test_escalation_threshold_hits_the_target_rate() -> None:
    conf = {"smollm2": list(np.linspace(0.2, 1.0, 101))}
    t = escalation_thresholds(conf, 0.4)["smollm2"]
    rate = np.mean(np.asarray(conf["smollm2"]) < t)
    assert abs(rate - 0.4) <= 0.02


def test_cost_weight_respects_the_share_to_the_dearest_model() -> None:
    rng = np.random.default_rng(0)
    queries = []
    for _ in range(200):
        ps, pl = rng.uniform(0.2, 0.8), rng.uniform(0.3, 0.9)
        queries.append(Query({"s": ps, "l": pl}, {"s": rng.random() < ps, "l": rng.random() < pl}))
    rel = {"s": 0.25, "l": 1.0}
    lam, chosen = choose_cost_weight(queries, rel, target_share=0.5)
    assert chosen["share_to_dearest"] <= 0.5
    report = routing_report(queries, rel, lam)
    assert report["router_share_to_dearest"] == pytest.approx(chosen["share_to_dearest"])
    assert report["oracle"] >= max(report["single"].values())


def test_fit_router_learns_a_query_dependent_signal() -> None:
    rng = np.random.default_rng(1)
    schema = FeatureSchema(version=1, model_keys=("smollm2", "gemma3-270m"))
    direction = rng.standard_normal(384)
    direction /= np.linalg.norm(direction)

    def rows(n: int, offset: int) -> list[FeedbackRow]:
        out = []
        for i in range(n):
            x = rng.standard_normal(384)
            x /= np.linalg.norm(x)
            easy = x @ direction > 0  # the small model is right exactly on "easy" queries
            out.append(FeedbackRow(x, "smollm2", bool(easy), query_id=f"q{offset + i}"))
            out.append(FeedbackRow(x, "gemma3-270m", True, query_id=f"q{offset + i}"))
        return out

    model, metrics = fit_router(schema, rows(150, 0), rows(50, 1000))
    assert metrics["validation"]["log_loss"] < 0.6
    x = direction / np.linalg.norm(direction)
    assert model.predict(x, "smollm2") > model.predict(-x, "smollm2")


def test_escalation_rate_is_chosen_within_the_band_by_validation_accuracy() -> None:
    from peermind.node.collab.calibration import cascade_outcome, choose_escalation_rate

    rng = np.random.default_rng(2)
    triples = []
    for _ in range(400):
        conf = rng.random()
        triples.append((conf, bool(rng.random() < conf), bool(rng.random() < 0.6)))  # cheap is right when sure
    rate, report = choose_escalation_rate(triples, band=(0.3, 0.5))
    assert 0.3 <= rate <= 0.5 and abs(report["escalated"] - rate) < 0.03
    for other in (0.3, 0.4, 0.5):
        threshold = float(np.quantile([t[0] for t in triples], other))
        assert cascade_outcome(triples, threshold)[0] <= report["accuracy"] + 1e-12
