"""Network admission rules and the newcomer pool (pure logic, no sockets)."""

from __future__ import annotations

import dataclasses

import pytest
from peermind.protocol import CapabilityAd, NotMember, Unadvertised, WrongNetwork
from peermind.trust import (
    InvalidInput,
    MembershipRules,
    ModelContention,
    NewcomerPool,
    membership_proof,
    network_key,
)

A = "12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB"
B = "12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK"


def _ad(rules: MembershipRules, peer: str, **kw: object) -> CapabilityAd:
    ad = CapabilityAd(network=rules.network, ttl_s=60, seq=1, pow_nonce=rules.pow.solve(peer),
                      member_proof=rules.own_proof(peer))
    return dataclasses.replace(ad, **kw)


def test_an_open_network_admits_an_ad_with_its_name_and_proof_of_work() -> None:
    rules = MembershipRules.build("open-net", 8, None)
    assert not rules.private and rules.own_proof(A) is None
    assert rules.judge_ad(A, _ad(rules, A)) is None
    assert isinstance(rules.judge_ad(A, _ad(rules, A, network="other-net")), WrongNetwork)
    bad_nonce = next(n for n in range(1000) if not rules.pow.verify(A, n))
    assert isinstance(rules.judge_ad(A, _ad(rules, A, pow_nonce=bad_nonce)), Unadvertised)


def test_a_private_network_needs_a_proof_bound_to_the_peer_and_the_network() -> None:
    rules = MembershipRules.build("club", 4, "s3cret-token")
    assert rules.private
    assert rules.judge_ad(A, _ad(rules, A)) is None
    assert isinstance(rules.judge_ad(A, _ad(rules, A, member_proof=None)), NotMember)
    # a proof seen in B's (gossiped) ad does not let A in, nor one for another network or secret
    assert isinstance(rules.judge_ad(A, _ad(rules, A, member_proof=rules.own_proof(B))), NotMember)
    other = membership_proof(network_key("s3cret-token"), "other", A)
    assert isinstance(rules.judge_ad(A, _ad(rules, A, member_proof=other)), NotMember)
    wrong = membership_proof(network_key("guess"), "club", A)
    assert isinstance(rules.judge_ad(A, _ad(rules, A, member_proof=wrong)), NotMember)
    # the secret never appears in the proof or the ad
    body = _ad(rules, A).to_body()
    assert "s3cret" not in repr(body) and network_key("s3cret-token").hex() not in repr(body)


def test_refusals_name_their_wire_reason() -> None:
    assert (WrongNetwork.reason, NotMember.reason, Unadvertised.reason) == ("wrong_network", "not_member", "unadvertised")


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_the_newcomer_pool_bounds_any_number_of_identities() -> None:
    """1000 fresh identities, each within its own allowance, get no more than the pool."""
    clock = Clock()
    pool = NewcomerPool(rate=2.0, burst=10.0, concurrent=4, now=clock)
    admitted = 0
    for _second in range(30):
        for _identity in range(1000):
            if pool.acquire() is None:
                admitted += 1
                assert pool.running <= 4
                pool.release()  # each task ends at once: only the rate binds
        clock.t += 1.0
    assert admitted <= 10 + 2 * 30  # burst + rate x time, whatever the number of identities
    # concurrency binds too: nothing finishes, at most 4 run
    busy = NewcomerPool(rate=1000.0, burst=1000.0, concurrent=4, now=clock)
    held = [busy.acquire() for _ in range(1000)]
    assert sum(r is None for r in held) == 4 and busy.running == 4
    refusal = next(r for r in held if r is not None)
    assert refusal.retry_after_s > 0 and "limit 4" in refusal.detail


def test_the_pool_checks_its_settings() -> None:
    with pytest.raises(InvalidInput):
        NewcomerPool(rate=0.0, burst=1.0, concurrent=1)
    with pytest.raises(InvalidInput):
        NewcomerPool(rate=1.0, burst=1.0, concurrent=0)


def test_the_pool_meters_work_whatever_the_number_of_identities() -> None:
    """Requests and slots alone admit one long generation after another; the token budget bounds
    what all unproven peers together make the node compute, charged on admission, settled on completion."""
    clock = Clock()
    pool = NewcomerPool(rate=1000.0, burst=1000.0, concurrent=1000, work_rate=lambda: 5.0,
                        min_work_burst=300.0, now=clock)
    assert pool.work_rate == 5.0 and pool.work_available == 300.0  # max(300, 5 tok/s x 60 s)
    computed = 0.0
    for second in range(600):
        for identity in range(50):  # 50 identities, each asking for a 256-token generation
            key = f"{second}-{identity}".encode()
            if pool.charge(key, 280.0, expires_at=clock.t + 60) is None:
                pool.settle(key, 280.0)  # it used all it was charged
                computed += 280.0
        clock.t += 1.0
    assert computed <= 300 + 5.0 * 600 + 280  # bucket + rate x time (+ one task of debt)
    refusal = pool.charge(b"late", 280.0, expires_at=clock.t + 60)
    assert refusal is not None and refusal.retry_after_s > 0 and "share of this node's work (5/s" in refusal.detail


def test_unused_or_never_settled_pool_work_comes_back() -> None:
    clock = Clock()
    pool = NewcomerPool(rate=10.0, burst=10.0, concurrent=4, work_rate=lambda: 1.0, min_work_burst=300.0, now=clock)
    assert pool.charge(b"short", 260.0, expires_at=100.0) is None
    assert pool.charge(b"next", 260.0, expires_at=100.0) is not None  # 40 left
    pool.settle(b"short", 20.0)  # stopped early: 240 back
    assert pool.work_available == pytest.approx(280.0)
    assert pool.charge(b"lost", 260.0, expires_at=5.0) is None  # its stream died before it ran
    clock.t = 6.0  # past its expiry, never settled: refunded at the next charge
    assert pool.charge(b"next", 200.0, expires_at=100.0) is None
    assert pool.pending_charges == 1 and pool.work_charged == pytest.approx(220.0)
    pool.settle(b"unknown", 10.0)  # settling a task never charged changes nothing
    assert pool.work_charged == pytest.approx(220.0)


def test_a_task_bigger_than_the_pool_runs_on_a_full_bucket_and_leaves_debt() -> None:
    clock = Clock()
    pool = NewcomerPool(rate=10.0, burst=10.0, concurrent=4, work_rate=lambda: 2.0, min_work_burst=200.0, now=clock)
    assert pool.charge(b"big", 500.0, expires_at=1e9) is None  # an honest newcomer's long question still runs
    assert pool.work_available == pytest.approx(-300.0)
    refusal = pool.charge(b"small", 10.0, expires_at=1e9)
    assert refusal is not None and refusal.retry_after_s == pytest.approx(155.0)  # (10 + 300) / 2
    assert NewcomerPool(rate=1.0, burst=1.0, concurrent=1).charge(b"x", 1e6, 1e9) is None  # not metered


def test_the_pool_reads_its_work_rate_only_when_asked() -> None:
    """The node builds the pool before it has measured its own speed: nothing is read until a charge."""
    speed: list[float] = []
    pool = NewcomerPool(rate=1.0, burst=1.0, concurrent=1, work_rate=lambda: speed[0], min_work_burst=10.0)
    speed.append(2.0)
    assert pool.work_available == 120.0  # 2 tok/s x 60 s, full at first read


def test_contention_lasts_while_the_user_asks_and_a_window_after_other_work() -> None:
    clock = Clock()
    contention = ModelContention(window_s=30.0, now=clock)
    assert not contention.contended() and contention.idle_for_s is None  # a fresh node: nobody else yet
    with contention.user_asking():
        clock.t = 100.0  # a long question: contended all along
        assert contention.contended() and contention.asking == 1
    clock.t = 130.0
    assert contention.contended() and contention.asking == 0  # a window after it ended
    clock.t = 130.5
    assert not contention.contended()
    contention.saw_other_work()  # a proven peer's task admitted
    clock.t = 145.0
    assert contention.contended() and contention.idle_for_s == pytest.approx(14.5)
    with pytest.raises(InvalidInput):
        ModelContention(window_s=float("nan"))


def test_the_pool_charges_work_only_while_anyone_else_wants_the_model() -> None:
    """A fresh honest network: every peer is unproven to the others, and nobody else wants the
    model, so their work is not metered. A flood under contention gets the pool's share, no more,
    whatever the number of identities."""
    clock = Clock()
    contention = ModelContention(window_s=30.0, now=clock)
    pool = NewcomerPool(rate=1000.0, burst=1000.0, concurrent=1000, work_rate=lambda: 0.1, min_work_burst=10.0,
                        contention=contention, now=clock)
    idle_served = sum(pool.charge(f"idle-{i}".encode(), 13.0, expires_at=1e9) is None for i in range(50))
    assert idle_served == 50 and pool.uncharged == 50 and pool.work_charged == 0.0
    served = 0.0
    with contention.user_asking():  # this node's user asks: while it does, the budget holds
        for second in range(300):
            for identity in range(50):
                key = f"{second}-{identity}".encode()
                if pool.charge(key, 13.0, expires_at=clock.t + 60) is None:
                    pool.settle(key, 13.0)
                    served += 13.0
            clock.t += 1.0
    assert served <= 10.0 + 0.1 * 300 + 13.0  # the bucket + share x time (+ one task of debt)
    assert pool.uncharged == 50
