"""The probe budget: a node's probes per minute stay bounded however many peers it has."""

from __future__ import annotations

from pathlib import Path

import trio
from peermind.node.trust_wiring import CanaryDeck
from peermind.node.trust_wiring._canary_deck import PROBE_BUDGET_PER_MIN, PROBE_BURST, ProbeBudget
from test_trust_verification import ME, Network, _candidate, _items, _verification, gold


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    budget = ProbeBudget(per_min=6, burst=3, now=clock)
    assert [budget.take() for _ in range(4)] == [True, True, True, False]
    clock.t = 9.0  # 0.9 of a token back
    assert not budget.take()
    clock.t = 10.0
    assert budget.take() and not budget.take()
    clock.t = 3600.0  # a long idle spell refills only up to the burst
    assert sum(budget.take() for _ in range(10)) == 3
    assert budget.spent == 7 and budget.denied == 10


async def test_probes_per_minute_do_not_grow_with_the_number_of_newcomers(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    """40 newcomers at once used to draw 3 x 40 start-up probes at one per 1.5 s; now the budget holds."""
    canaries = _items(40)
    net = Network(canaries)
    peers = ["12D3KooWPeer" + "".join("abcdefghij"[int(d)] for d in f"{i:02d}") for i in range(40)]  # base58
    net.behaviour = {ME: gold, **{p: gold for p in peers}}
    v, _ledger, _registry = _verification(net, canary_rate=0.0)
    everyone = [_candidate(ME, local=True), *(_candidate(p) for p in peers)]
    v._candidates = lambda: everyone
    v.probe_budget = ProbeBudget(now=trio.current_time)
    v.deck = CanaryDeck(canaries, None, "smollm2")
    with trio.move_on_after(180):
        await v.probe_newcomers(10.0, lambda: True)
    # three minutes: the burst plus the rate, not 3 x 40
    assert len(net.calls) <= PROBE_BURST + 3 * PROBE_BUDGET_PER_MIN
    assert len(net.calls) >= 3 * PROBE_BUDGET_PER_MIN  # the budget is spent, not left idle
    assert v.probe_budget.denied > 0
