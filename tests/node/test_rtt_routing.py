"""Measured round-trip time in routing: a fast peer far away against a slow one next door."""

from __future__ import annotations

from dataclasses import replace

import pytest
from peermind.node.collab.candidates import Candidate
from peermind.node.collab.constraints import Constraints, InfeasibleConstraints
from peermind.node.collab.route import feasible
from peermind.node.collab.utility import estimate
from peermind.node.p2p.rtt import RttBook

NEAR = "12D3KooWNearSLowPeerAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
FAR = "12D3KooWFarFastPeerBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"


def _peer(peer: str, gen_tps: float, rtt_ms: float) -> Candidate:
    return Candidate(peer_id=peer, is_local=False, model="smollm2", family="llama", params_m=135.0,
                     gen_tps=gen_tps, prompt_tps=10 * gen_tps, queue_depth=0, max_queue=8, max_concurrency=1,
                     cost_per_1k=0.1, tags=(), rtt_ms=rtt_ms)


def test_the_round_trip_is_part_of_the_latency_estimate() -> None:
    c = _peer(NEAR, gen_tps=50.0, rtt_ms=0.0)
    assert replace(c, rtt_ms=120.0).estimate_latency_ms(100, 16) == pytest.approx(c.estimate_latency_ms(100, 16) + 120.0)


def test_short_answers_go_to_the_near_slow_peer_long_ones_to_the_far_fast_one() -> None:
    near = _peer(NEAR, gen_tps=40.0, rtt_ms=2.0)  # 16 tokens: 40 + 40 + 2 = ~442 ms; 256: ~7.0 s
    far = _peer(FAR, gen_tps=200.0, rtt_ms=600.0)  # 16 tokens: 8 + 80 + 600 = ~688 ms; 256: ~2.0 s
    short = estimate([near, far], {"smollm2": 0.5}, prompt_tokens=16, max_tokens=16)
    long = estimate([near, far], {"smollm2": 0.5}, prompt_tokens=16, max_tokens=256)
    assert short[0].candidate.peer_id == NEAR and long[0].candidate.peer_id == FAR
    # without the measured round trip the far peer would look faster for short answers too
    blind = estimate([replace(near, rtt_ms=0.0), replace(far, rtt_ms=0.0)], {"smollm2": 0.5},
                     prompt_tokens=16, max_tokens=16)
    assert blind[0].candidate.peer_id == FAR


def test_budget_ms_excludes_a_peer_whose_round_trip_breaks_it() -> None:
    near = _peer(NEAR, gen_tps=40.0, rtt_ms=2.0)
    far = _peer(FAR, gen_tps=200.0, rtt_ms=600.0)
    kept = feasible([near, far], Constraints(budget_ms=500), prompt_tokens=16, max_tokens=16)
    assert [c.peer_id for c in kept] == [NEAR]
    with pytest.raises(InfeasibleConstraints):
        feasible([far], Constraints(budget_ms=500), prompt_tokens=16, max_tokens=16)


def test_the_book_smooths_jitter_and_measures_the_stalest_first() -> None:
    book = RttBook(alpha=0.5)
    book.observe(NEAR, 100.0)
    book.observe(NEAR, 200.0)
    assert book.rtt_ms(NEAR) == pytest.approx(150.0) and book.rtt_ms(FAR) is None
    assert book.stalest([NEAR, FAR], 1) == [FAR]  # never measured first
    assert book.snapshot() == {NEAR: 150.0}
