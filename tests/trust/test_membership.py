"""Network admission rules and the newcomer pool (pure logic, no sockets)."""

from __future__ import annotations

import dataclasses

import pytest
from peermind.protocol import CapabilityAd, NotMember, Unadvertised, WrongNetwork
from peermind.trust import (
    InvalidInput,
    MembershipRules,
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
