"""Strategy arithmetic of the evaluation harness on small hand-made outcomes."""

import pytest
from peermind.testnet._eval import merge_coincident, resolve_modes
from peermind.testnet._eval_outcomes import ItemRecord, Outcome, Peer
from peermind.testnet._strategies import (
    baseline_outcomes,
    evaluate_strategies,
    oracle_outcome,
    pick_random_peer,
    strongest_model,
)
from peermind.testnet.errors import EvalError

SMALL_A = Peer("peer-a", "small", 135, 0.1, is_entry=True)
LARGE = Peer("peer-b", "large", 270, 0.4)
SMALL_C = Peer("peer-c", "small", 135, 0.1)
PEERS = [SMALL_A, LARGE, SMALL_C]


def _o(correct: bool, cost: float, ms: float = 100.0, model: str = "", error: str = "") -> Outcome:
    return Outcome(correct, cost, ms, model=model, error=error)


def _records(n_choices: int = 4) -> list[ItemRecord]:
    # small right on 0,1; large right on 1,2; nobody on 3
    table = [(True, False), (True, True), (False, True), (False, False)]
    out = []
    for i, (small_ok, large_ok) in enumerate(table):
        r = ItemRecord(f"q{i}", "toy", "mc", n_choices)
        r.per_model = {"small": _o(small_ok, 0.1, 50, "small"), "large": _o(large_ok, 0.4, 200, "large")}
        r.per_mode["route"] = _o(large_ok if i % 2 else small_ok, 0.4 if i % 2 else 0.1, 120,
                                 "large" if i % 2 else "small")
        out.append(r)
    return out


def test_strongest_is_the_biggest_model() -> None:
    assert strongest_model(PEERS) == "large"


def test_oracle_pays_for_the_cheapest_right_model() -> None:
    both = {"small": _o(True, 0.1), "large": _o(True, 0.4)}
    assert oracle_outcome(both).cost == 0.1
    only_large = {"small": _o(False, 0.1), "large": _o(True, 0.4)}
    assert oracle_outcome(only_large).correct and oracle_outcome(only_large).cost == 0.4
    none = {"small": _o(False, 0.1), "large": _o(False, 0.4)}
    assert not oracle_outcome(none).correct and oracle_outcome(none).cost == 0.1


def test_random_peer_is_seeded_by_item_not_order() -> None:
    first = [pick_random_peer(PEERS, f"q{i}", seed=7).peer_id for i in range(20)]
    again = [pick_random_peer(list(reversed(PEERS)), f"q{i}", seed=7).peer_id for i in range(20)]
    assert first == again
    assert len(set(first)) > 1  # it really draws
    other_seed = [pick_random_peer(PEERS, f"q{i}", seed=8).peer_id for i in range(20)]
    assert other_seed != first


def test_derived_baselines_reuse_per_model_outcomes() -> None:
    records = _records()
    assert [o.correct for o in baseline_outcomes("single:small", records, PEERS, 0)] == [True, True, False, False]
    assert [o.correct for o in baseline_outcomes("always-strongest", records, PEERS, 0)] == [False, True, True, False]
    assert [o.correct for o in baseline_outcomes("oracle", records, PEERS, 0)] == [True, True, True, False]
    with pytest.raises(ValueError):
        baseline_outcomes("route", records, PEERS, 0)


def test_evaluate_strategies_accuracy_cost_and_pgr() -> None:
    modes = ["single:small", "single:large", "random", "always-strongest", "oracle", "route"]
    results = {r.mode: r for r in evaluate_strategies(_records(), PEERS, modes, seed=0)}
    assert list(results) == modes
    assert results["single:small"].accuracy == 0.5 and results["single:small"].mean_cost == pytest.approx(0.1)
    assert results["oracle"].accuracy == 0.75
    assert results["oracle"].mean_cost == pytest.approx((0.1 + 0.1 + 0.4 + 0.1) / 4)
    assert results["always-strongest"].extra["model"] == "large"
    route = results["route"]
    # route: q0 small ok, q1 large ok, q2 small wrong, q3 large wrong -> 0.5; PGR (0.5-0.5)/(0.75-0.5) = 0
    assert route.accuracy == 0.5
    assert route.extra["gap_recovered"] == 0.0
    assert route.extra["share:large"] == 0.5
    assert results["single:small"].n == 4 and 0 <= route.ci95[0] <= route.accuracy <= route.ci95[1] <= 1


def test_no_gap_recovered_on_binary_items_and_errors_counted() -> None:
    records = _records(n_choices=2)
    records[0].per_mode["route"] = _o(False, 0.0, 5000, error="all_candidates_failed: boom")
    route = next(r for r in evaluate_strategies(records, PEERS, ["single:small", "route"], 0) if r.mode == "route")
    assert "gap_recovered" not in route.extra
    assert route.extra["errors"] == 1
    assert route.n == 4  # a failed answer counts as wrong, not as missing


def test_modes_missing_on_some_items_are_left_out() -> None:
    records = _records()
    del records[2].per_mode["route"]
    assert [r.mode for r in evaluate_strategies(records, PEERS, ["oracle", "route"], 0)] == ["oracle"]


def test_resolve_modes_expands_single_and_asks_only_needed_models() -> None:
    modes, models, network = resolve_modes(["single", "route", "cascade"], PEERS)
    assert modes == ["single:small", "single:large", "route", "cascade"]
    assert models == ["small", "large"] and network == ["route", "cascade"]
    modes, models, network = resolve_modes(["always-strongest"], PEERS)
    assert models == ["large"] and network == []
    _modes, models, _network = resolve_modes(["random"], PEERS)
    assert models == ["small", "large"]
    with pytest.raises(EvalError, match="no peer serves"):
        resolve_modes(["single:huge"], PEERS)
    with pytest.raises(EvalError, match="unknown mode"):
        resolve_modes(["telepathy"], PEERS)


def test_merge_coincident_points_share_one_label() -> None:
    results = evaluate_strategies(_records(), PEERS, ["single:large", "always-strongest", "single:small"], 0)
    merged = merge_coincident(results)
    assert [r.mode for r in merged] == ["single:large = always-strongest", "single:small"]
