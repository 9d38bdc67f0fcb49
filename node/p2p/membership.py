"""Network membership on every protocol: who may get work, ads or opinions accepted here.

A peer is admitted while this node holds a fresh ad of it that passed the network's
rules (``peermind.trust.MembershipRules``: the network's name, its proof of work and, on a
private network, a membership proof or an admission signed by one of its admitting
peers). Everything else gets a typed refusal: on the task
and negotiation protocols a ``task.refusal`` whose reason names the
``peermind.protocol.AdmissionError`` subclass (``wrong_network``, ``not_member``,
``unadvertised``), on the training protocol a ``train.reply`` whose error starts with it;
ads and opinions are dropped. Each (peer, reason) is logged once, without a traceback,
and none of it is trust evidence: a peer of another network is not a liar.

Unproven peers (fewer records here than probation asks) also share one newcomer pool
(``peermind.trust.NewcomerPool``) beside their own allowances, so a thousand fresh
identities cost this node no more than one trusted peer may: requests, tasks at once and
work (model time, charged on admission and settled on completion like each peer's own).
The work budget holds while the model is contended (``peermind.trust.ModelContention``):
this node's user had a question in flight, or a proven peer's task was admitted, lately;
idle model time is free.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import trio
from peermind.protocol import (
    AdmissionError,
    CapabilityAd,
    TaskRefusal,
    TaskRequest,
    TaskResult,
    Unadvertised,
)
from peermind.trust import MembershipRules, NewcomerPool

from .ads import AdBoard

log = logging.getLogger("peermind.node.membership")

__all__ = ["AD_GRACE_S", "Membership"]

AD_GRACE_S = 3.0
"""How long a work request from a connected peer without an ad waits for its ad: peers
publish on every new connection, so a request can overtake the requester's first ad."""
MAX_REMEMBERED = 4096
"""Peers whose rejected ad (and logged refusal) is remembered; the oldest are forgotten."""
CHARGE_GRACE_S = 30.0
"""A pool charge unsettled this long past its task's deadline is refunded (its task never ran)."""
_NO_TASK = b"\0" * 16
TaskAdmit = Callable[[str], TaskRefusal | None]
TaskCharge = Callable[[str, TaskRequest], TaskRefusal | None]
TaskSettle = Callable[[TaskRequest, TaskResult | TaskRefusal | None], None]
K = TypeVar("K")
V = TypeVar("V")


class Membership:
    """This node's admission by network membership, and the newcomer pool."""

    def __init__(self, rules: MembershipRules, board: AdBoard, *,
                 unproven: Callable[[str], bool] = lambda _peer: False,
                 pool: NewcomerPool | None = None, ad_grace_s: float = AD_GRACE_S,
                 own_id: str | None = None, own_admission: bytes | None = None,
                 work_cost: Callable[[TaskRequest], float] | None = None,
                 work_used: Callable[[TaskRequest, TaskResult | TaskRefusal | None], float] | None = None) -> None:
        """``work_cost``/``work_used``: a task's estimated and actual work (the daemon: model-seconds),
        for the pool's work budget (None: the pool meters requests and tasks at once only)."""
        self.rules = rules
        self.own_admission = own_admission
        """What this node's ad carries on a network with admitting peers (``peermind admit``)."""
        self._own_id = own_id
        """This node: admitted to its own protocols (an auction negotiates with the asking node's
        own model over the same protocol, and a node holds no ad of itself on its board)."""
        self._board = board
        self._unproven = unproven
        self.pool = pool
        self._grace_s = ad_grace_s
        self._rejected: OrderedDict[str, AdmissionError] = OrderedDict()
        self._logged: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._pooled: dict[str, int] = {}
        self._work_cost = work_cost
        self._work_used = work_used
        self.refusals: dict[str, int] = {}
        """Refusals by reason (ads and opinions dropped, requests refused), for status and tests."""

    # ------------------------------------------------------------------ ads
    def own_proof(self, peer_id: str) -> bytes | None:
        """This node's membership proof for its own ad (None on an open network)."""
        return self.rules.own_proof(peer_id)

    def check_ad(self, peer: str, ad: CapabilityAd) -> bool:
        """Whether a verified ad admits its signer (False: ignore the ad, forget the old one)."""
        problem = self.rules.judge_ad(peer, ad)
        if problem is None:
            self._rejected.pop(peer, None)
            return True
        _remember(self._rejected, peer, problem)
        self._board.remove(peer)
        self._refused(peer, problem, "ad")
        return False

    def ad_check(self, trust_check: Callable[[str, CapabilityAd], bool]) -> Callable[[str, CapabilityAd], bool]:
        """The ad check the gossip runs: another network's ad is refused here without trust's checks
        (its proof of work is for its own network, and belonging elsewhere is no violation); an ad
        of this network passes trust's checks (proof of work as evidence), then the membership rules."""
        def check(peer: str, ad: CapabilityAd) -> bool:
            if ad.network != self.rules.network:
                return self.check_ad(peer, ad)
            return trust_check(peer, ad) and self.check_ad(peer, ad)

        return check

    # ------------------------------------------------------------------ requests
    def verdict(self, peer: str) -> AdmissionError | None:
        """None when ``peer`` is admitted now, else the typed reason it is not."""
        if peer == self._own_id or self._board.get(peer) is not None:
            return None
        rejected = self._rejected.get(peer)
        if rejected is not None:
            return rejected
        return Unadvertised(f"no fresh ad of {peer} on network {self.rules.network!r} "
                            "(publish a signed ad with the network's proof of work first)")

    async def wait_admitted(self, peer: str) -> None:
        """Give a peer whose ad has not arrived yet (and was never rejected) a moment for it."""
        if peer == self._own_id or self._board.get(peer) is not None or peer in self._rejected:
            return
        with trio.move_on_after(self._grace_s):
            while self._board.get(peer) is None and peer not in self._rejected:
                await self._board.changed.wait()

    def refuse(self, peer: str, protocol: str) -> AdmissionError | None:
        """``verdict``, counted and logged (once per peer and reason) when it is a refusal."""
        problem = self.verdict(peer)
        if problem is not None:
            self._refused(peer, problem, protocol)
        return problem

    def gate(self, peer: str, protocol: str = "task") -> TaskRefusal | None:
        """A typed ``task.refusal`` for a request from a peer this network does not admit."""
        problem = self.refuse(peer, protocol)
        if problem is None:
            return None
        return TaskRefusal(task_id=_NO_TASK, reason=problem.reason, detail=str(problem)[:512])

    def admits(self, peer: str, protocol: str = "opinion") -> bool:
        """Gossip (opinions): accept only from admitted peers; the rest is dropped, logged once."""
        return self.refuse(peer, protocol) is None

    # ------------------------------------------------------------------ newcomer pool
    def pooled_admit(self, admit: TaskAdmit, release: Callable[[str], None]) -> TaskAdmit:
        """``admit`` (the per-peer share) followed by the newcomer pool for unproven peers."""
        def admit_task(peer: str) -> TaskRefusal | None:
            refusal = admit(peer)
            if refusal is not None or self.pool is None:
                return refusal
            if not self._unproven(peer):
                if self.pool.contention is not None:  # a proven peer's work: the pool's budget holds now
                    self.pool.contention.saw_other_work()
                return None
            refused = self.pool.acquire()
            if refused is not None:
                release(peer)
                self.refusals["newcomer_pool"] = self.refusals.get("newcomer_pool", 0) + 1
                return TaskRefusal(task_id=_NO_TASK, reason="rate_limited", detail=refused.detail[:512],
                                   retry_after_ms=max(1, int(refused.retry_after_s * 1000)))
            self._pooled[peer] = self._pooled.get(peer, 0) + 1
            return None

        return admit_task

    def pooled_charge(self, charge: TaskCharge, settle: TaskSettle,
                      told: Callable[[str, TaskRefusal], None]) -> TaskCharge:
        """``charge`` (the peer's own work allowance) followed by the pool's work budget for an
        unproven peer; a pool refusal gives the peer's own charge back and tells it to wait
        (``told``: conduct counts asking again early). Pair with ``pooled_settle``."""
        def charge_task(peer: str, request: TaskRequest) -> TaskRefusal | None:
            refusal = charge(peer, request)
            if (refusal is not None or self.pool is None or self._work_cost is None
                    or not self._unproven(peer)):
                return refusal
            left_s = max(0.0, request.deadline_ms / 1000 - time.time())
            refused = self.pool.charge(request.task_id, self._work_cost(request),
                                       time.monotonic() + left_s + CHARGE_GRACE_S)
            if refused is None:
                return None
            settle(request, None)
            self.refusals["newcomer_pool_work"] = self.refusals.get("newcomer_pool_work", 0) + 1
            refusal = TaskRefusal(task_id=_NO_TASK, reason="rate_limited", detail=refused.detail[:512],
                                  retry_after_ms=max(1, int(refused.retry_after_s * 1000)))
            told(peer, refusal)
            return refusal

        return charge_task

    def pooled_settle(self, settle: TaskSettle) -> TaskSettle:
        """``settle`` plus the pool's share: the work a finished task did not use goes back to the pool,
        all of it for one that never ran (``reply`` None). A task refused after admission (its
        deadline passed while queued or decoding) keeps its whole charge: it may have decoded until
        then, and no figure says how far (a Sybil run: 1,244 such refusals beside 81 results)."""
        def settle_task(request: TaskRequest, reply: TaskResult | TaskRefusal | None) -> None:
            settle(request, reply)
            if self.pool is not None and self._work_used is not None:
                used = math.inf if isinstance(reply, TaskRefusal) else self._work_used(request, reply)
                self.pool.settle(request.task_id, used)

        return settle_task

    def pooled_release(self, release: Callable[[str], None]) -> Callable[[str], None]:
        """``release`` plus the pool slot, when the task held one."""
        def task_done(peer: str) -> None:
            release(peer)
            held = self._pooled.get(peer, 0)
            if held and self.pool is not None:
                self.pool.release()
                if held == 1:
                    del self._pooled[peer]
                else:
                    self._pooled[peer] = held - 1

        return task_done

    # ------------------------------------------------------------------ reporting
    def _refused(self, peer: str, problem: AdmissionError, protocol: str) -> None:
        self.refusals[problem.reason] = self.refusals.get(problem.reason, 0) + 1
        key = (peer, problem.reason)
        if key in self._logged:
            return
        _remember(self._logged, key, None)
        # No ad yet is routine at start-up (an opinion can overtake the first ad): info, not a warning.
        level = logging.INFO if isinstance(problem, Unadvertised) else logging.WARNING
        log.log(level, "refused a peer this network does not admit", extra={
            "peer": peer, "reason": problem.reason, "error": type(problem).__name__,
            "protocol": protocol, "detail": str(problem)[:200]})

    def own_standing(self, peer_id: str) -> AdmissionError | None:
        """Why this node's own ad would not admit it on a network with admitting peers (None: it
        would, or the network has none): logged at start, so a missing or expired admission is
        seen where it is fixed, not only in the peers' refusals."""
        if not self.rules.admitters or peer_id in self.rules.admitters:
            return None
        return self.rules.judge_admission(peer_id, self.own_admission)

    def snapshot(self) -> dict[str, object]:
        """The network's rules and refusal counts, for ``peermind status`` (never the secret)."""
        pool = self.pool
        return {"network": self.rules.network, "private": self.rules.private,
                "admitters": sorted(self.rules.admitters),
                "pow_difficulty_bits": self.rules.pow.difficulty_bits, "refusals": dict(self.refusals),
                "newcomer_pool": None if pool is None else {
                    "rate": pool.rate, "burst": pool.burst, "concurrent": pool.concurrent, "running": pool.running,
                    "work_rate": pool.work_rate, "work_available": pool.work_available,
                    "work_charged": pool.work_charged, "uncharged": pool.uncharged,
                    "contended": None if pool.contention is None else pool.contention.contended()}}


def _remember(table: OrderedDict[K, V], key: K, value: V) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > MAX_REMEMBERED:
        table.popitem(last=False)
