"""Issue 12's goal checks on hand-made outcomes (no nodes): verdicts, intervals, noise."""

import math

import pytest
from peermind.testnet._eval_goals import (
    best_single_model,
    bootstrap,
    dataset_goal,
    goal_checks,
    paired_difference,
    pgr,
    pooled_goals,
)
from peermind.testnet._eval_outcomes import ItemRecord, Outcome


def _record(i: int, dataset: str, small: bool, large: bool, mine: bool, mine_cost: float = 0.1,
            n_choices: int = 4) -> ItemRecord:
    r = ItemRecord(f"{dataset}-{i}", dataset, "mc", n_choices)
    r.per_model = {"small": Outcome(small, 0.1, 10), "large": Outcome(large, 0.4, 20)}
    r.per_mode["route"] = Outcome(mine, mine_cost, 15)
    return r


def _records(dataset: str, n: int, small_right: int, large_right: int, mine_right: int) -> list[ItemRecord]:
    return [_record(i, dataset, i < small_right, i < large_right, i < mine_right) for i in range(n)]


def test_paired_difference_is_zero_width_for_identical_answers_and_rejects_unpaired() -> None:
    same = paired_difference([True, False, True], [True, False, True])
    assert same.value == 0 and same.lo == 0 and same.hi == 0
    d = paired_difference([True] * 10 + [False] * 10, [False] * 10 + [False] * 10)
    assert d.value == pytest.approx(0.5) and d.lo < 0.5 < d.hi
    with pytest.raises(ValueError):
        paired_difference([True], [True, False])


def test_bootstrap_is_seeded_and_brackets_the_full_sample_value() -> None:
    values = [1.0] * 30 + [0.0] * 70

    def mean(idx: list[int]) -> float:
        return sum(values[i] for i in idx) / len(idx)

    a, b = bootstrap(mean, 100, seed=3), bootstrap(mean, 100, seed=3)
    assert a == b and a.value == pytest.approx(0.3) and a.lo < 0.3 < a.hi
    assert math.isnan(bootstrap(mean, 0, seed=3).value)


def test_best_single_model_counts_right_answers() -> None:
    assert best_single_model(_records("d", 10, small_right=6, large_right=4, mine_right=0)) == "small"


def test_dataset_goal_missed_only_when_clearly_below_the_best_model() -> None:
    clearly_below = dataset_goal(_records("d", 60, 10, 40, 10), "route", "d")
    assert clearly_below.met is False and "large" in clearly_below.figure and clearly_below.n == 60
    slightly_below = dataset_goal(_records("d", 60, 10, 40, 38), "route", "d")
    assert slightly_below.met is True and slightly_below.noise and "inside the noise" in slightly_below.verdict
    above = dataset_goal(_records("d", 60, 10, 40, 45), "route", "d")
    assert above.met is True and not above.noise and above.verdict == "met"


def test_pooled_goals_compare_accuracy_and_cost_with_always_strongest() -> None:
    cheap_and_good = [_record(i, "arc_easy", i < 30, i < 40, i < 40, mine_cost=0.1) for i in range(60)]
    acc, cost = pooled_goals(cheap_and_good, "route", "large", seed=0)
    assert acc.met is True and "100.0%" in acc.figure  # 40 of 40 right answers: the same accuracy
    assert cost.met is True and "25.0%" in cost.figure  # 0.1 against 0.4
    assert "1 of 4 goal datasets" in acc.scope
    dear = [_record(i, "sciq", False, i < 40, i < 30, mine_cost=0.3) for i in range(60)]
    acc, cost = pooled_goals(dear, "route", "large", seed=0)
    assert acc.met is False and cost.met is False


def test_pgr_is_reported_with_a_note_on_two_way_items() -> None:
    records = [_record(i, "arc_easy", i < 20, (10 <= i < 40), i < 40) for i in range(60)]
    check = pgr(records, "route", seed=0, scope="pooled")
    assert check.met is None and check.verdict == "reported" and check.figure.startswith("100.0%")
    binary = [_record(i, "boolq", i < 20, i < 30, i < 25, n_choices=2) for i in range(40)]
    assert "two-way" in pgr(binary, "route", seed=0, scope="boolq").figure


def test_goal_checks_cover_each_dataset_then_the_pooled_goals_then_pgr() -> None:
    records = _records("arc_easy", 20, 8, 12, 12) + _records("csqa", 20, 4, 9, 9)
    checks = goal_checks(records, "route", "large", seed=0)
    assert [c.scope for c in checks[:2]] == ["arc_easy", "csqa"]
    assert [c.goal for c in checks[2:]] == ["accuracy >= 97% of always-strongest", "mean cost <= 50% of always-strongest",
                                            "performance gap recovered (PGR)"]
    assert all(c.to_json()["verdict"] for c in checks)
    assert goal_checks(records, "auto", "large", seed=0)[0].met is None  # a mode never asked: no verdict
