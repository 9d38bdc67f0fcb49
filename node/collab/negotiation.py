"""Contract-net negotiation on ``/peermind/negotiate/1.0.0``: offer, bids, award, then the task.

Why a protocol of its own: the task protocol carries work; negotiation is a burst of
tiny control messages that must not queue behind it, and a separate protocol ID lets a
peer that does not negotiate simply not speak it (it is then skipped, not failed).

Each exchange is one signed request and one signed reply (StreamEndpoint):

    asker -> candidate  task.offer   (task size, deadline, budget, 48-byte embedding digest)
    candidate -> asker  task.bid     (est. latency from its live queue and measured speed,
                                      price, its router's P(correct) for its model) | task.refusal
    asker -> winner     task.award   (winner = its peer ID)
    winner -> asker     task.bid     (confirmation, fresh numbers) | task.refusal (declined)
    asker -> winner     task.request on /peermind/task/1.0.0 with the offer's task_id

Award policy: utility = P(correct) - cost_weight * cost/max - latency_weight * latency/max
over the bids that meet budget_ms and max_cost. P(correct) is the asker's own router
estimate when it has a trained head for the bid's model (a claimed confidence is cheap to
inflate) and the bid's claim otherwise; when nobody knows anything (no trained head
anywhere) the ad prior stands in, log-parameters relative to the biggest bidder, as in
route's cold start. Every step has a timeout (bids 0.5 s, award
0.5 s, the task its remaining deadline); a winner that declines, times out or fails is
replaced by the next bid, and the user sees an error only when every bid failed.

The digest is the sign of each of the 384 embedding dimensions (48 bytes): the bidder
rebuilds a unit vector of +-1/sqrt(384) and asks its router, which keeps the prompt
private and still gives a query-specific estimate.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import trio
from peermind.protocol import Envelope, Message, TaskAward, TaskBid, TaskOffer, TaskRefusal

from ..p2p.streams import PeerCallError
from ..p2p.tasks import now_ms
from .answer import Answer, Attempt
from .candidates import Candidate
from .constraints import InfeasibleConstraints
from .embedding import query_text
from .errors import CollaborationError
from .mode_registry import register
from .router_state import RouterHolder
from .utility import DEFAULT_COST_WEIGHT, DEFAULT_LATENCY_WEIGHT, Estimate

if TYPE_CHECKING:
    from .policy import Collaborator, QueryContext

log = logging.getLogger("peermind.node.collab.negotiation")

NEGOTIATE_PROTOCOL = "/peermind/negotiate/1.0.0"
BID_TIMEOUT_S = 0.5
AWARD_TIMEOUT_S = 0.5
DEFAULT_BIDDERS = 5
_OFFER_MEMORY = 512
_UNINFORMED = 0.5  # a bidder's confidence without a trained head for its model

Call = Callable[[str, Message, float], Awaitable[Envelope]]


# ---------------------------------------------------------------------- digest
def embedding_digest(embedding: np.ndarray) -> bytes:
    """48 bytes: the sign bit of each dimension."""
    return np.packbits(np.asarray(embedding) > 0).tobytes()


def digest_embedding(digest: bytes, dim: int) -> np.ndarray | None:
    """The unit vector a digest stands for, or None if it does not fit ``dim``."""
    if len(digest) * 8 < dim or len(digest) > math.ceil(dim / 8):
        return None
    bits = np.unpackbits(np.frombuffer(digest, dtype=np.uint8))[:dim].astype(np.float32)
    return (2 * bits - 1) / np.float32(math.sqrt(dim))


# ---------------------------------------------------------------------- worker side
class Bidder:
    """Answers offers with bids computed from this node's live state."""

    def __init__(
        self,
        *,
        local_candidate: Callable[[], Candidate],
        router: RouterHolder,
        max_tokens: int,
        gate: Callable[[str], TaskRefusal | None] | None = None,
    ) -> None:
        self._local = local_candidate
        self._router = router
        self._max_tokens = max_tokens
        self._gate = gate
        self._offers: OrderedDict[bytes, tuple[TaskOffer, str]] = OrderedDict()
        self.bids_made = 0
        self.awards_won = 0

    def bid(self, offer: TaskOffer, peer: str) -> TaskBid | TaskRefusal:
        """This node's bid for ``offer``, or a refusal when it cannot meet it."""
        refusal = self._refusal(offer, peer)
        if refusal is not None:
            return refusal
        me = self._local()
        self._offers[offer.task_id] = (offer, peer)
        while len(self._offers) > _OFFER_MEMORY:
            self._offers.popitem(last=False)
        self.bids_made += 1
        return self._make_bid(offer, me)

    def confirm(self, award: TaskAward, peer: str, my_id: str) -> TaskBid | TaskRefusal:
        """Accept an award if the bid still holds (capacity may have gone meanwhile)."""
        known = self._offers.get(award.task_id)
        if known is None or known[1] != peer:
            return TaskRefusal(task_id=award.task_id, reason="unsupported", detail="no open offer with this task_id from you")
        del self._offers[award.task_id]
        if award.winner != my_id:
            return TaskRefusal(task_id=award.task_id, reason="unsupported", detail="the award names another winner")
        offer = known[0]
        refusal = self._refusal(offer, peer)
        if refusal is not None:
            return refusal
        self.awards_won += 1
        return self._make_bid(offer, self._local())

    def _refusal(self, offer: TaskOffer, peer: str) -> TaskRefusal | None:
        if self._gate is not None:
            gated = self._gate(peer)
            if gated is not None:
                return TaskRefusal(task_id=offer.task_id, reason=gated.reason, detail=gated.detail)
        me = self._local()
        if offer.model and offer.model != me.model:
            return TaskRefusal(task_id=offer.task_id, reason="unsupported", detail=f"this peer serves {me.model}")
        if offer.max_tokens > self._max_tokens:
            return TaskRefusal(task_id=offer.task_id, reason="over_limits", detail=f"max_tokens over {self._max_tokens}")
        if me.saturated:
            return TaskRefusal(task_id=offer.task_id, reason="busy", detail="queue full", retry_after_ms=500)
        est = me.estimate_latency_ms(offer.prompt_tokens_est, offer.max_tokens)
        if now_ms() + est > offer.deadline_ms:
            return TaskRefusal(task_id=offer.task_id, reason="deadline", detail=f"needs ~{est:.0f} ms")
        return None

    def _make_bid(self, offer: TaskOffer, me: Candidate) -> TaskBid:
        return TaskBid(
            task_id=offer.task_id,
            est_latency_ms=round(me.estimate_latency_ms(offer.prompt_tokens_est, offer.max_tokens), 1),
            cost=me.estimate_cost(offer.prompt_tokens_est, offer.max_tokens),
            confidence=self._confidence(offer, me.model),
            queue_depth=me.queue_depth,
            model=me.model,
        )

    def _confidence(self, offer: TaskOffer, model: str) -> float:
        if not offer.embedding_digest or model not in self._router.trained_heads():
            return _UNINFORMED
        x = digest_embedding(offer.embedding_digest, self._router.schema.embed_dim)
        if x is None:
            return _UNINFORMED
        return float(min(1.0, max(0.0, self._router.predict(x).get(model, _UNINFORMED))))

    async def handle(self, envelope: Envelope, peer: str, my_id: str) -> Message:
        """Serve one negotiation message (offer or award) from ``peer``."""
        body = envelope.body
        if isinstance(body, TaskOffer):
            return self.bid(body, peer)
        if isinstance(body, TaskAward):
            return self.confirm(body, peer, my_id)
        raise TypeError(f"unexpected {envelope.msg_type} on {NEGOTIATE_PROTOCOL}")


# ---------------------------------------------------------------------- asker side
@dataclass(frozen=True)
class Bid:
    """A peer's bid as the auctioneer compares them."""

    candidate: Candidate
    bid: TaskBid
    rtt_ms: float


class Auctioneer:
    """Sends offers and awards; ``call(peer, body, timeout_s)`` is StreamEndpoint.call by peer ID."""

    def __init__(self, *, call: Call, bidder: Bidder, my_id: str) -> None:
        self._call = call
        self._bidder = bidder
        self._my_id = my_id

    async def solicit(self, offer: TaskOffer, candidates: Sequence[Candidate], timeout_s: float,
                      attempts: list[Attempt]) -> list[Bid]:
        """Send ``offer`` to ``candidates`` and collect the bids that arrive in time."""
        bids: list[Bid] = []

        async def ask(c: Candidate) -> None:
            started = time.perf_counter()
            if c.is_local:
                reply: Message = self._bidder.bid(offer, self._my_id)
            else:
                try:
                    reply = (await self._call(c.peer_id, offer, timeout_s)).body
                except PeerCallError as exc:
                    attempts.append(Attempt(c.peer_id, c.model, "no_bid", _ms(started), str(exc)[:200]))
                    return
            if isinstance(reply, TaskBid) and reply.task_id == offer.task_id:
                bids.append(Bid(c, reply, _ms(started)))
            else:
                why = reply.reason if isinstance(reply, TaskRefusal) else type(reply).__name__
                attempts.append(Attempt(c.peer_id, c.model, f"declined:{why}", _ms(started), getattr(reply, "detail", "")))

        async with trio.open_nursery() as nursery:
            for c in candidates:
                nursery.start_soon(ask, c)
        return bids

    async def award(self, offer: TaskOffer, winner: Candidate, timeout_s: float) -> tuple[bool, str]:
        """Award the task to ``winner``; (confirmed, reason)."""
        award = TaskAward(task_id=offer.task_id, winner=winner.peer_id)
        if winner.is_local:
            reply: Message = self._bidder.confirm(award, self._my_id, self._my_id)
        else:
            try:
                reply = (await self._call(winner.peer_id, award, timeout_s)).body
            except PeerCallError as exc:
                return False, f"award failed: {exc}"
        if isinstance(reply, TaskBid) and reply.task_id == offer.task_id:
            return True, ""
        return False, f"declined: {getattr(reply, 'reason', type(reply).__name__)}"


def rank_bids(
    bids: Sequence[Bid],
    *,
    predictions: dict[str, float],
    budget_ms: float | None,
    max_cost: float | None,
    cost_weight: float,
    latency_weight: float = DEFAULT_LATENCY_WEIGHT,
    peer_weight: Callable[[str], float] | None = None,
) -> list[tuple[Bid, float, float]]:
    """(bid, quality used, utility), best first; InfeasibleConstraints names the limit no bid meets."""
    ok = list(bids)
    if budget_ms is not None:
        ok = [b for b in ok if b.bid.est_latency_ms <= budget_ms]
        if not ok:
            fastest = min(b.bid.est_latency_ms for b in bids)
            raise InfeasibleConstraints("budget_ms", f"the fastest bid needs ~{fastest:.0f} ms > {budget_ms:.0f} ms")
    if max_cost is not None:
        before = ok
        ok = [b for b in ok if b.bid.cost <= max_cost]
        if not ok:
            cheapest = min(b.bid.cost for b in before)
            raise InfeasibleConstraints("max_cost", f"the cheapest bid costs {cheapest:.4f} > {max_cost}")
    max_c = max((b.bid.cost for b in ok), default=1.0) or 1.0
    max_l = max((b.bid.est_latency_ms for b in ok), default=1.0) or 1.0
    informed = bool(predictions) or any(b.bid.confidence != _UNINFORMED for b in ok)
    top_prior = max(b.candidate.quality_prior for b in ok) or 1.0
    ranked = []
    for b in ok:
        model = b.bid.model or b.candidate.model
        if informed:
            quality = predictions.get(model, b.bid.confidence)
        else:  # cold network: like route, prefer the bigger model (ad prior), then price and wait
            quality = b.candidate.quality_prior / top_prior
        if peer_weight is not None:
            quality *= peer_weight(b.candidate.peer_id)
        u = quality - cost_weight * b.bid.cost / max_c - latency_weight * b.bid.est_latency_ms / max_l
        ranked.append((b, quality, u))
    ranked.sort(key=lambda t: (-t[2], t[0].bid.est_latency_ms, not t[0].candidate.is_local))
    return ranked


@register("auction")
async def run_auction(collab: Collaborator, ctx: QueryContext, estimates: list[Estimate]) -> Answer:
    """Mode ``auction`` (and ``negotiate=true``): choose the answering peer by contract net."""
    auctioneer = collab.negotiator
    if not isinstance(auctioneer, Auctioneer):
        raise CollaborationError("negotiation is not available until the node's host is running")
    if ctx.embedding is None and collab.embedder is not None and collab.embedder.ready and collab.router.trained_heads():
        ctx.embedding = await collab.embedder.embed(query_text(ctx.job))
    offer = TaskOffer(
        task_id=ctx.task_id,
        kind=ctx.job.kind,
        prompt_tokens_est=ctx.prompt_tokens,
        max_tokens=ctx.max_tokens,
        deadline_ms=now_ms() + int(max(ctx.remaining_s, 0.05) * 1000),
        budget_cost=ctx.constraints.max_cost or 0.0,
        embedding_digest=embedding_digest(ctx.embedding) if ctx.embedding is not None else None,
    )
    bidders = [e.candidate for e in estimates[: ctx.tactics.k or DEFAULT_BIDDERS]]
    started = time.perf_counter()
    bids = await auctioneer.solicit(offer, bidders, min(BID_TIMEOUT_S, max(ctx.remaining_s, 0.05)), ctx.attempts)
    if not bids:
        raise collab.failed(ctx, "no peer bid")
    ranked = rank_bids(
        bids,
        predictions=ctx.predictions,
        budget_ms=ctx.constraints.budget_ms,
        max_cost=ctx.constraints.max_cost,
        cost_weight=_lambda_or_default(collab.cost_weight(ctx.tactics)),
        peer_weight=collab.hooks.peer_weight,
    )
    negotiation_ms: float | None = None
    for bid, quality, utility in ranked:
        if ctx.remaining_s <= 0.05:
            break
        award_started = time.perf_counter()
        accepted, why = await auctioneer.award(offer, bid.candidate, min(AWARD_TIMEOUT_S, ctx.remaining_s))
        if not accepted:
            ctx.attempts.append(Attempt(bid.candidate.peer_id, bid.candidate.model, "award_declined", _ms(award_started), why))
            continue
        if negotiation_ms is None:
            negotiation_ms = _ms(started)
        reply = await collab.ask_one(ctx, bid.candidate, task_id=ctx.task_id)
        if reply is None:
            continue  # the winner failed mid-task: award the next bid
        reason = (f"auction: {len(bids)} bids; won with utility {utility:.3f} "
                  f"(P(correct) {quality:.2f}, bid cost {bid.bid.cost:.4f}, est. {bid.bid.est_latency_ms:.0f} ms)")
        return collab.answer(ctx, reply, reason=reason, mode="auction", negotiation_ms=round(negotiation_ms, 2))
    raise collab.failed(ctx, f"every one of {len(bids)} bidders failed")


def _lambda_or_default(cost_weight: float | None) -> float:
    """Bids are ranked with a lambda (their costs are the bidders' own figures): the default one
    where neither the request nor a calibration set it."""
    return DEFAULT_COST_WEIGHT if cost_weight is None else cost_weight


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
