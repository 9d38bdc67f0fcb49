"""Contract-net negotiation with in-process bidders (real Bidder/Auctioneer, fake transport)."""

from __future__ import annotations

import numpy as np
import pytest
from collab_fakes import LARGE, SMALL, FakeNet, candidate, dead, fake_embedder, router_with
from peermind.node.collab.candidates import Candidate
from peermind.node.collab.constraints import Constraints
from peermind.node.collab.errors import InfeasibleConstraints
from peermind.node.collab.job import Job
from peermind.node.collab.negotiation import (
    Auctioneer,
    Bid,
    Bidder,
    digest_embedding,
    embedding_digest,
    rank_bids,
)
from peermind.node.collab.router_state import RouterHolder
from peermind.node.p2p.streams import PeerTimeout
from peermind.node.p2p.tasks import new_task_id, now_ms
from peermind.protocol import Envelope, Message, TaskAward, TaskBid, TaskOffer, TaskRefusal

MC = Job(kind="score", prompt="Question: pick\nAnswer:", continuations=(" a", " b"))


def offer(**kw: object) -> TaskOffer:
    base = dict(task_id=new_task_id(), kind="score", prompt_tokens_est=20, max_tokens=1, deadline_ms=now_ms() + 10_000)
    return TaskOffer(**{**base, **kw})  # type: ignore[arg-type]


class Wire:
    """Routes offers/awards to each peer's Bidder, as the negotiate protocol would."""

    def __init__(self, bidders: dict[str, Bidder], silent: set[str] | None = None) -> None:
        self.bidders = bidders
        self.silent = silent or set()

    async def call(self, peer: str, body: Message, timeout_s: float) -> Envelope:
        if peer in self.silent:
            raise PeerTimeout(f"{peer} did not answer within {timeout_s:.1f}s")
        reply = await self.bidders[peer].handle(_Env(body), "asker", peer)  # type: ignore[arg-type]
        return _Env(reply)  # type: ignore[return-value]


class _Env:
    def __init__(self, body: Message) -> None:
        self.body = body
        self.msg_type = body.TYPE


def bidder(c: Candidate, router: RouterHolder | None = None) -> Bidder:
    return Bidder(local_candidate=lambda: c, router=router or RouterHolder(None), max_tokens=1024)


def auction_net(silent: set[str] | None = None) -> tuple[FakeNet, Wire]:
    cands = [candidate("me", local=True, **LARGE), candidate("s1", **SMALL), candidate("s2", **SMALL),
             candidate("b2", **LARGE, queue=2)]
    net = FakeNet(cands)
    wire = Wire({c.peer_id: bidder(c) for c in cands}, silent)
    return net, wire


def test_digest_keeps_the_sign_pattern_in_48_bytes() -> None:
    v = np.random.default_rng(0).standard_normal(384).astype(np.float32)
    d = embedding_digest(v)
    assert len(d) == 48
    x = digest_embedding(d, 384)
    assert x is not None and np.all(np.sign(x) == np.sign(v)) and abs(np.linalg.norm(x) - 1) < 1e-5
    assert digest_embedding(b"\x00" * 10, 384) is None


def test_bidder_bids_from_live_state_and_refuses_what_it_cannot_do() -> None:
    b = bidder(candidate("w", **SMALL))
    bid = b.bid(offer(), "asker")
    assert isinstance(bid, TaskBid) and bid.model == "smollm2" and bid.confidence == 0.5 and bid.cost > 0
    assert isinstance(b.bid(offer(max_tokens=4096), "asker"), TaskRefusal)
    assert b.bid(offer(model="gemma3-270m"), "asker").reason == "unsupported"  # type: ignore[union-attr]
    assert bidder(candidate("w", **SMALL, queue=4)).bid(offer(), "asker").reason == "busy"  # type: ignore[union-attr]
    assert b.bid(offer(deadline_ms=now_ms() - 1), "asker").reason == "deadline"  # type: ignore[union-attr]


def test_bidder_confidence_comes_from_its_router_and_the_digest() -> None:
    b = bidder(candidate("w", **SMALL), router_with({"smollm2": 0.8, "gemma3-270m": 0.3}))
    emb = np.ones(384, np.float32) / np.sqrt(384)
    bid = b.bid(offer(embedding_digest=embedding_digest(emb)), "asker")
    assert isinstance(bid, TaskBid) and bid.confidence == pytest.approx(0.8, abs=1e-3)


def test_award_must_follow_an_offer_from_the_same_asker() -> None:
    b = bidder(candidate("w", **SMALL))
    o = offer()
    b.bid(o, "asker")
    assert isinstance(b.confirm(TaskAward(task_id=o.task_id, winner="w"), "intruder", "w"), TaskRefusal)
    assert isinstance(b.confirm(TaskAward(task_id=o.task_id, winner="w"), "asker", "w"), TaskBid)
    assert isinstance(b.confirm(TaskAward(task_id=o.task_id, winner="w"), "asker", "w"), TaskRefusal)  # used up


def test_rank_bids_filters_by_budget_and_names_the_constraint() -> None:
    fast = Bid(candidate("f", **SMALL), TaskBid(task_id=b"\1" * 16, est_latency_ms=100, cost=0.01, confidence=0.4), 1.0)
    slow = Bid(candidate("s", **LARGE), TaskBid(task_id=b"\1" * 16, est_latency_ms=900, cost=0.04, confidence=0.9), 1.0)
    ranked = rank_bids([fast, slow], predictions={}, budget_ms=None, max_cost=None, cost_weight=0.0)
    assert ranked[0][0] is slow
    assert rank_bids([fast, slow], predictions={}, budget_ms=500, max_cost=None, cost_weight=0)[0][0] is fast
    with pytest.raises(InfeasibleConstraints) as info:
        rank_bids([fast, slow], predictions={}, budget_ms=10, max_cost=None, cost_weight=0)
    assert info.value.constraint == "budget_ms"
    with pytest.raises(InfeasibleConstraints) as info:
        rank_bids([fast, slow], predictions={}, budget_ms=None, max_cost=0.001, cost_weight=0)
    assert info.value.constraint == "max_cost"
    # the asker's own trained router outranks a bidder's claim
    mine = rank_bids([fast, slow], predictions={"smollm2": 0.95, "gemma3-270m": 0.5}, budget_ms=None, max_cost=None, cost_weight=0)
    assert mine[0][0] is fast


async def test_auction_awards_the_best_bid_and_reports_the_overhead() -> None:
    net, wire = auction_net()
    collab = net.collaborator()
    collab.negotiator = Auctioneer(call=wire.call, bidder=wire.bidders["me"], my_id="me")
    answer = await collab.run(MC, mode="auction")
    assert answer.mode == "auction" and answer.negotiation_ms is not None
    assert answer.answered_by == "me"  # same model as b2 but b2 has a queue; "me" is local
    assert "4 bids" in answer.reason


async def test_a_winner_that_fails_mid_task_is_replaced_by_the_next_bid() -> None:
    net, wire = auction_net(silent={"s2"})  # s2 never bids
    net.set("me", error=dead())
    collab = net.collaborator(router_with({"smollm2": 0.55, "gemma3-270m": 0.6}), fake_embedder())
    collab.negotiator = Auctioneer(call=wire.call, bidder=wire.bidders["me"], my_id="me")
    answer = await collab.run(MC, mode="auction", constraints=Constraints())
    outcomes = [(a.peer_id, a.outcome) for a in answer.attempts]
    assert ("s2", "no_bid") in outcomes and ("me", "failed") in outcomes
    assert answer.answered_by in ("s1", "b2") and answer.choice is not None  # the next bid, no error
