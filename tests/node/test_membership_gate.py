"""Admission by network membership on the node (node/p2p/membership.py), with the real AdBoard."""

from __future__ import annotations

import logging
import time

import pytest
import trio
from peermind.node.p2p.ads import AdBoard
from peermind.node.p2p.membership import Membership
from peermind.protocol import CapabilityAd, TaskRefusal, TaskRequest, TaskResult
from peermind.trust import MembershipRules, ModelContention, NewcomerPool

A = "12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB"
B = "12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK"
RULES = MembershipRules.build("club", 4, "s3cret")


def _ad(peer: str, rules: MembershipRules = RULES) -> CapabilityAd:
    return CapabilityAd(network=rules.network, ttl_s=60, seq=1, pow_nonce=rules.pow.solve(peer),
                        member_proof=rules.own_proof(peer))


def _offer(gate: Membership, board: AdBoard, peer: str, ad: CapabilityAd) -> None:
    """What AdGossip does with a verified ad: check it, then put it on the board."""
    if gate.check_ad(peer, ad):
        board.offer(peer, ad)


async def test_requests_need_a_fresh_admitted_ad_and_refusals_are_typed(caplog: pytest.LogCaptureFixture) -> None:
    board = AdBoard()
    gate = Membership(RULES, board)
    refusal = gate.gate(A)
    assert isinstance(refusal, TaskRefusal) and refusal.reason == "unadvertised"
    outsider = MembershipRules.build("club", 4, None)  # same name, no secret
    with caplog.at_level(logging.WARNING, logger="peermind.node.membership"):
        _offer(gate, board, A, _ad(A, outsider))
        for _ in range(5):
            assert gate.gate(A).reason == "not_member"  # type: ignore[union-attr]
            assert not gate.admits(A)
    assert board.get(A) is None
    logged = [r for r in caplog.records if getattr(r, "peer", "") == A and getattr(r, "reason", "") == "not_member"]
    assert len(logged) == 1 and not any(r.exc_info for r in caplog.records)  # once, no traceback
    _offer(gate, board, A, CapabilityAd(network="elsewhere", ttl_s=60, seq=2))
    assert gate.gate(A).reason == "wrong_network"  # type: ignore[union-attr]
    _offer(gate, board, A, _ad(A))
    assert gate.gate(A) is None and gate.admits(A)
    # a member's later ad that fails the rules takes its admission away at once
    _offer(gate, board, A, CapabilityAd(network="club", ttl_s=60, seq=3, pow_nonce=RULES.pow.solve(A)))
    assert gate.gate(A).reason == "not_member"  # type: ignore[union-attr]
    assert gate.refusals["not_member"] >= 6


async def test_a_request_that_overtakes_its_senders_first_ad_waits_for_it() -> None:
    board = AdBoard()
    gate = Membership(RULES, board, ad_grace_s=5.0)
    async with trio.open_nursery() as nursery:
        async def late_ad() -> None:
            await trio.sleep(0.2)
            _offer(gate, board, B, _ad(B))

        nursery.start_soon(late_ad)
        with trio.fail_after(3):
            await gate.wait_admitted(B)
    assert gate.gate(B) is None
    # a peer that never sends an ad waits at most the grace period
    short = Membership(RULES, board, ad_grace_s=0.1)
    with trio.fail_after(2):
        await short.wait_admitted(A)
    assert short.gate(A).reason == "unadvertised"  # type: ignore[union-attr]


def test_a_flood_of_fresh_identities_shares_one_newcomer_pool() -> None:
    """Each identity is within its own allowance; together they get the pool's share, no more."""
    board = AdBoard()
    proven = {B}
    gate = Membership(RULES, board, pool=NewcomerPool(rate=100.0, burst=100.0, concurrent=4),
                      unproven=lambda peer: peer not in proven)
    running: dict[str, int] = {}

    def per_peer_admit(peer: str) -> TaskRefusal | None:  # each identity's own share: 2 at once
        if running.get(peer, 0) >= 2:
            return TaskRefusal(task_id=b"\0" * 16, reason="rate_limited")
        running[peer] = running.get(peer, 0) + 1
        return None

    def per_peer_release(peer: str) -> None:
        running[peer] -= 1

    admit = gate.pooled_admit(per_peer_admit, per_peer_release)
    release = gate.pooled_release(per_peer_release)
    sybils = [f"sybil-{i}" for i in range(1000)]
    admitted = [peer for peer in sybils if admit(peer) is None]
    assert len(admitted) == 4  # 1000 identities, one trusted peer's share
    assert sum(running.values()) == 4  # refused ones released their per-peer slot
    assert admit(B) is None and admit(B) is None  # a proven peer never waits on the pool
    for peer in admitted:
        release(peer)
    assert gate.pool is not None and gate.pool.running == 0
    assert admit(sybils[-1]) is None  # room again once newcomers' tasks end


def test_the_pool_charges_newcomers_work_and_settles_what_they_did_not_use() -> None:
    """50 identities each within its own work allowance share one work budget; a proven peer
    never touches it; a pool refusal gives the peer's own charge back and tells it to wait."""
    own: dict[bytes, str] = {}
    told: list[tuple[str, TaskRefusal]] = []
    gate = Membership(RULES, AdBoard(), pool=NewcomerPool(rate=1e3, burst=1e3, concurrent=100,
                                                          work_rate=lambda: 1.0, min_work_burst=600.0),
                      unproven=lambda peer: peer != B, work_cost=lambda req: float(req.max_tokens),
                      work_used=lambda _req, reply: float(reply.completion_tokens) if isinstance(reply, TaskResult) else 0.0)

    def own_charge(peer: str, req: TaskRequest) -> TaskRefusal | None:  # each identity's own allowance: never spent
        own[req.task_id] = peer
        return None

    def own_settle(req: TaskRequest, _reply: TaskResult | TaskRefusal | None) -> None:
        own.pop(req.task_id, None)

    def task(task_id: bytes) -> TaskRequest:
        return TaskRequest(task_id=task_id, kind="generate", prompt="q", max_tokens=256,
                           deadline_ms=int((time.time() + 60) * 1000))

    charge = gate.pooled_charge(own_charge, own_settle, lambda peer, refusal: told.append((peer, refusal)))
    settle = gate.pooled_settle(own_settle)
    requests = [task(bytes([i]) * 16) for i in range(50)]
    verdicts = [charge(f"sybil-{i}", req) for i, req in enumerate(requests)]
    admitted = [req for req, verdict in zip(requests, verdicts, strict=True) if verdict is None]
    assert len(admitted) == 2  # 600 tokens: 256 + 256, then 88 left
    refused = next(v for v in verdicts if v is not None)
    assert refused.reason == "rate_limited" and (refused.retry_after_ms or 0) > 0
    assert len(told) == 48 and set(own) == {r.task_id for r in admitted}  # refused ones got their own charge back
    assert charge(B, task(b"b" * 16)) is None  # proven: no pool
    for req in admitted:  # each stopped after 16 tokens: 240 back each
        settle(req, TaskResult(task_id=req.task_id, text="x", completion_tokens=16))
    assert gate.pool is not None and gate.pool.work_charged == pytest.approx(32.0)
    timed_out = task(b"t" * 16)  # admitted, then refused at its deadline: it may have decoded till then
    assert charge("sybil-0", timed_out) is None
    settle(timed_out, TaskRefusal(task_id=timed_out.task_id, reason="deadline"))
    assert gate.pool.work_charged == pytest.approx(32.0 + 256.0)
    gate.pool.settle(timed_out.task_id, 0.0)  # settled once: nothing comes back later
    assert gate.pool.work_charged == pytest.approx(288.0)
    assert charge("sybil-late", task(b"l" * 16)) is None
    assert gate.snapshot()["refusals"] == {"newcomer_pool_work": 48}


def test_a_proven_peers_task_turns_the_pools_work_budget_on() -> None:
    """Until someone else wants the model, unproven peers' work is not metered (a fresh network
    works at full speed); a proven peer's admitted task is such work, so the budget holds after it."""
    clock = [0.0]
    pool = NewcomerPool(rate=1e3, burst=1e3, concurrent=100, work_rate=lambda: 0.1, min_work_burst=10.0,
                        contention=ModelContention(window_s=30.0, now=lambda: clock[0]))
    gate = Membership(RULES, AdBoard(), pool=pool, unproven=lambda peer: peer != B,
                      work_cost=lambda req: float(req.max_tokens), work_used=lambda _req, _reply: 0.0)
    admit = gate.pooled_admit(lambda _peer: None, lambda _peer: None)
    charge = gate.pooled_charge(lambda _peer, _req: None, lambda _req, _reply: None, lambda _peer, _refusal: None)

    def task(i: int) -> TaskRequest:
        return TaskRequest(task_id=bytes([i]) * 16, kind="generate", prompt="q", max_tokens=256,
                           deadline_ms=int((time.time() + 60) * 1000))

    assert all(charge(f"newcomer-{i}", task(i)) is None for i in range(5))  # idle: no budget
    assert gate.snapshot()["newcomer_pool"]["contended"] is False  # type: ignore[index]
    assert admit(B) is None  # a proven peer's task
    assert charge("newcomer-9", task(9)) is None  # the full bucket admits one (it leaves debt)
    refused = charge("newcomer-10", task(10))
    assert refused is not None and refused.reason == "rate_limited"
    assert pool.uncharged == 5 and gate.snapshot()["newcomer_pool"]["contended"] is True  # type: ignore[index]
    clock[0] = 31.0  # nobody else for a window: idle again
    assert charge("newcomer-11", task(11)) is None and pool.uncharged == 6


def test_another_networks_ad_skips_the_trust_checks_and_is_refused_as_wrong_network() -> None:
    board = AdBoard()
    gate = Membership(RULES, board)
    seen: list[str] = []

    def trust_check(peer: str, _ad: CapabilityAd) -> bool:  # proof of work as evidence (trust wiring)
        seen.append(peer)
        return True

    check = gate.ad_check(trust_check)
    assert not check(A, CapabilityAd(network="elsewhere", ttl_s=60, seq=1))
    assert seen == [] and gate.gate(A).reason == "wrong_network"  # type: ignore[union-attr]
    assert check(B, _ad(B)) and seen == [B]


async def test_a_node_admits_itself_without_an_ad_of_its_own() -> None:
    """An auction negotiates with the asking node's own model over the same protocol, and a node
    holds no ad of itself on its board: it must not refuse itself as ``unadvertised``."""
    board = AdBoard()
    gate = Membership(RULES, board, own_id=A, ad_grace_s=5.0)
    with trio.fail_after(1.0):
        await gate.wait_admitted(A)  # no grace wait for itself
    assert gate.gate(A) is None and gate.admits(A) and gate.verdict(A) is None
    assert gate.gate(B).reason == "unadvertised"  # type: ignore[union-attr]
