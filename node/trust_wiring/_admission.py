"""Who may use this node: bans, per-peer rate limits and proof of work.

- Task requests: a banned peer gets a ``TaskRefusal`` with reason ``untrusted``; a peer over
  its request allowance gets ``rate_limited`` (with ``retry_after_ms``), and flood evidence
  only past REQUEST_ABUSE_FACTOR times the allowance (an honest requester that honours
  ``retry_after_ms`` never gets there, so refusals cannot spiral into a ban);
  a peer with its share of tasks already running here gets ``rate_limited`` (no
  evidence). Allowances grow with reputation (``peermind.trust.RateLimiter``): a newcomer
  gets a quarter (and two tasks at a time), a banned peer nothing.
- Work: each task is charged its tokens (prompt + all it may generate, ``_work.py``) from a
  per-peer budget of ``trust.work_rate`` tokens/s (scaled like the request allowance) and
  settled when it ends; over budget: ``rate_limited`` with the wait for enough tokens.
- Requester conduct (``peermind.trust.RequesterConduct``), judged apart from answer quality:
  every refusal tells the peer when to come back; requests that arrive earlier shrink its
  request and work allowances, however well it answers canaries. After one such early
  request (refused with a type) the rest of that wait window are reset unread (``turn_away``).
- Ads and opinions (gossip): over the allowance they are dropped; only a peer sending
  ABUSE_FACTOR times its allowance is recorded as flooding, so an honest node whose
  load changes quickly is never punished for republishing.
- Proof of work: when the network requires it, an ad without a valid ``pow_nonce`` for
  its signer is ignored and recorded once per peer.

With trust disabled nothing is refused or dropped (evidence is still recorded elsewhere).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import NamedTuple

from peermind.protocol import CapabilityAd, TaskRefusal, TaskRequest, TaskResult
from peermind.trust import (
    ABUSE_FACTOR,
    REQUEST_ABUSE_FACTOR,
    Evidence,
    EvidenceEvent,
    LimitKind,
    ProofOfWork,
    RateLimited,
    RateLimiter,
    RequesterConduct,
    Standing,
    ViolationKind,
    ViolationSource,
    abuse_params,
)

from ..p2p.tasks import PEER_PRIORITY
from ._ledger import TrustLedger
from ._metrics import TrustMetrics
from ._work import task_cost, used_tokens

__all__ = ["Admission"]

MAX_RETRY_MS = 86_400_000
CONCURRENT_PER_BURST = 0.4
"""Tasks a peer may have running or queued here at once, per request of its burst allowance:
with the default burst of 10 a trusted peer gets 4; never fewer than MIN_CONCURRENT."""
MIN_CONCURRENT = 2
"""Room for one user question beside one background check (a canary, probe or cross-check)
from the same node: with 1, a user's question pinned to a newcomer was refused whenever the
asking node's own probe of that newcomer was running."""
CONCURRENCY_RETRY_MS = 1000
MAX_CHARGED = 4096
"""Work charges awaiting settlement (tasks running or queued here); past it the oldest is refunded."""
CHARGE_GRACE_S = 30.0
"""A charge still unsettled this long after its task's deadline is refunded: the backend stops a
task at its deadline, so its reply was never produced (e.g. a stream that died before its task
ran), and keeping the charge would shrink the peer's work allowance for work never done."""
TRUSTED_PRIORITY = PEER_PRIORITY
"""Queue priority of a trusted peer's tasks (the task server's default for any peer; this
node's own work is 0): never cut short."""
UNPROVEN_PRIORITY = 2
"""A peer not yet trusted, with no evidence against it: queued after trusted peers, and its
generations stop early when this node's user or a trusted peer is waiting."""
SUSPECT_PRIORITY = 3
"""A peer scoring below the newcomer prior (floods, timeouts, wrong answers): last."""
TELL_BANNED_EVERY_S = 30.0
"""A banned peer gets a typed ``untrusted`` refusal (with retry_after_ms) at most this often;
its other streams are reset unread, so a banned flooder costs next to nothing."""
TELLING_TIMEOUT_S = 2.0
"""The stream let through to carry that refusal must reach the gate within this long; if it
died first (reset by the requester, or by the ban's own disconnect) the next one is let through."""
_NO_TASK = b"\0" * 16


class _Charge(NamedTuple):
    peer: str
    tokens: float
    expires_at: float
    """On the admission clock: the task's deadline plus CHARGE_GRACE_S."""


class Admission:
    """Gatekeeper for inbound tasks, ads and opinions."""

    def __init__(
        self,
        ledger: TrustLedger,
        metrics: TrustMetrics,
        *,
        enabled: bool,
        pow_: ProofOfWork | None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ledger = ledger
        self._metrics = metrics
        self.enabled = enabled
        self._pow = pow_ if pow_ is not None and pow_.difficulty_bits > 0 else None
        self.conduct = RequesterConduct(ledger.params, now=now)
        self.limiter = RateLimiter(ledger.params, ledger.book, now=now, conduct=self.conduct)
        self._charged: dict[bytes, _Charge] = {}
        self._abuse = RateLimiter(abuse_params(ledger.params), ledger.book, now=now)
        self._running: dict[str, int] = {}
        self._told_banned: dict[str, float] = {}
        self._telling_banned: dict[str, float] = {}
        self._now = now
        self._pow_ok: set[tuple[str, int]] = set()
        self._pow_reported: set[str] = set()
        self.is_member: Callable[[str], bool] = lambda _peer: True
        """Network membership (node/p2p/membership.py), set by the daemon: opinions from
        peers outside the network are dropped, trust on or off."""

    # ------------------------------------------------------------------ tasks
    def gate_task(self, peer: str) -> TaskRefusal | None:
        """A refusal for ``peer``'s task request, or None to serve it."""
        if not self.enabled:
            return None
        banned = self.refuse_banned(peer)
        if banned is not None:
            return banned
        abusive = self._arrived(peer)
        try:
            self.limiter.check(peer, LimitKind.REQUEST)
        except RateLimited as exc:
            self._metrics.refusals.labels(reason="rate_limited").inc()
            if abusive:
                self._record_flood(peer, str(exc))
            return self._told_to_wait(peer, exc.retry_after_s, str(exc))
        return None

    def _arrived(self, peer: str) -> bool:
        """Count one task request (read or not); True when it is past REQUEST_ABUSE_FACTOR x the allowance."""
        self.conduct.arrived(peer)  # before its retry_after: counted against its allowance
        return not self._abuse.allow(peer, LimitKind.REQUEST)

    def _record_flood(self, peer: str, detail: str) -> None:
        """Ignoring our retry_after at REQUEST_ABUSE_FACTOR x the allowance: a flood."""
        self._ledger.record(self._ledger.evidence(
            peer, Evidence.FLOOD, f"requests over {REQUEST_ABUSE_FACTOR:g}x the allowance: {detail}"))

    def told_to_wait(self, peer: str, refusal: TaskRefusal) -> None:
        """A ``rate_limited`` refusal made outside this class (the newcomer pool) tells the peer to
        wait just as ours do: requests before its ``retry_after`` count against its conduct."""
        if self.enabled and refusal.reason == "rate_limited" and refusal.retry_after_ms:
            self.conduct.told_to_wait(peer, refusal.retry_after_ms / 1000)

    def refuse_banned(self, peer: str) -> TaskRefusal | None:
        """The typed ``untrusted`` refusal while ``peer`` is banned (checked before anything else)."""
        if not self.enabled:
            return None
        book = self._ledger.book
        until = book.ban_until(peer)
        if until is None:
            return None
        self._metrics.refusals.labels(reason="untrusted").inc()
        if self._telling_banned.pop(peer, None) is not None:  # the stream turn_away let through
            self._told_banned[peer] = self._now()
        return TaskRefusal(task_id=_NO_TASK, reason="untrusted",
                           detail="this node does not serve you during a ban cool-down",
                           retry_after_ms=_ms(until - book.now()))

    def charge_work(self, peer: str, request: TaskRequest) -> TaskRefusal | None:
        """Charge ``request``'s tokens to ``peer``'s work budget, or refuse it (pair with ``settle_work``)."""
        if not self.enabled:
            return None
        self._expire_charges()
        cost = task_cost(request)
        try:
            self.limiter.check(peer, LimitKind.WORK, cost)
        except RateLimited as exc:
            self._metrics.refusals.labels(reason="rate_limited").inc()
            return self._told_to_wait(peer, exc.retry_after_s, f"work over the allowance ({cost:.0f} tokens): {exc}")
        _rate, burst = self.limiter.limits(peer, LimitKind.WORK)
        left_s = max(0.0, request.deadline_ms / 1000 - time.time())
        self._charged[request.task_id] = _Charge(peer, min(cost, burst), self._now() + left_s + CHARGE_GRACE_S)
        while len(self._charged) > MAX_CHARGED:  # never settled: refunded rather than kept
            self._refund(self._charged.pop(next(iter(self._charged))))
        return None

    def settle_work(self, request: TaskRequest, reply: TaskResult | TaskRefusal | None) -> None:
        """Give back what a charged task did not use (all of it when it never ran)."""
        charged = self._charged.pop(request.task_id, None)
        if charged is not None:
            self.limiter.refund(charged.peer, LimitKind.WORK, charged.tokens - used_tokens(request, reply))

    @property
    def pending_charges(self) -> int:
        """Work charges awaiting settlement (tasks running or queued here)."""
        return len(self._charged)

    def _expire_charges(self) -> None:
        """Refund the charges whose task can no longer be running (oldest first, in charge order)."""
        now = self._now()
        while self._charged:
            task_id, charge = next(iter(self._charged.items()))
            if charge.expires_at > now:
                return
            del self._charged[task_id]
            self._refund(charge)

    def _refund(self, charge: _Charge) -> None:
        self.limiter.refund(charge.peer, LimitKind.WORK, charge.tokens)

    def _told_to_wait(self, peer: str, retry_after_s: float, detail: str) -> TaskRefusal:
        self.conduct.told_to_wait(peer, retry_after_s)
        return TaskRefusal(task_id=_NO_TASK, reason="rate_limited", detail=detail[:512],
                           retry_after_ms=_ms(retry_after_s))

    def admit_task(self, peer: str) -> TaskRefusal | None:
        """Per-peer concurrency: a refusal if ``peer`` already has its share of tasks running here.

        Request rates alone let a newcomer park its whole burst of long generations in
        this node's queue; capping what runs or waits at once (2 for a newcomer, growing
        with trust: CONCURRENT_PER_BURST per request of the burst allowance) keeps the
        queue for everyone. Not evidence: an honest peer asking twice at once just retries
        elsewhere. Every admitted task must be paired with ``task_done``.
        """
        if not self.enabled:
            return None
        running = self._running.get(peer, 0)
        _rate, burst = self.limiter.limits(peer, LimitKind.REQUEST)
        cap = max(MIN_CONCURRENT, round(burst * CONCURRENT_PER_BURST))
        if running >= cap:
            self._metrics.refusals.labels(reason="rate_limited").inc()
            return self._told_to_wait(peer, CONCURRENCY_RETRY_MS / 1000,
                                      f"{running} of your tasks are already running here (limit {cap})")
        self._running[peer] = running + 1
        return None

    def turn_away(self, peer: str) -> bool:
        """True: reset ``peer``'s task stream unread: banned, and told so within TELL_BANNED_EVERY_S;
        or told to wait (``rate_limited``) and already refused once for asking early in that window.

        A peer that keeps asking while told to wait then costs no frame read, signature check or
        signed refusal; its requests still count (conduct, flood evidence), so a flooder is
        banned as fast as when each stream was read.
        """
        if not self.enabled:
            return False
        if not self._ledger.book.is_banned(peer):
            return self._keeps_asking(peer)
        now = self._now()
        told = self._told_banned.get(peer)
        telling = self._telling_banned.get(peer)
        if (told is not None and now - told < TELL_BANNED_EVERY_S) or (
                telling is not None and now - telling < TELLING_TIMEOUT_S):
            self._metrics.refusals.labels(reason="untrusted_reset").inc()
            return True
        # This stream carries the typed refusal; the peer counts as told only once gate_task
        # has refused it (a stream that dies before that must not silence the next 30 s).
        self._telling_banned[peer] = now
        return False

    def _keeps_asking(self, peer: str) -> bool:
        if not self.conduct.keeps_asking(peer):
            return False
        if self._arrived(peer):
            self._record_flood(peer, "asking again while told to wait")
        self._metrics.refusals.labels(reason="rate_limited_reset").inc()
        return True

    def task_priority(self, peer: str) -> tuple[int, bool]:
        """(queue priority, preemptible) of ``peer``'s tasks on this node's model.

        Admission bounds how much an unproven peer may ask; this bounds what it costs the
        node's own user while it is asked: an unproven peer's long generation yields at the
        next token to more urgent work instead of holding the model for seconds.
        """
        if not self.enabled:
            return TRUSTED_PRIORITY, False
        book = self._ledger.book
        if book.standing(peer) is Standing.TRUSTED:
            return TRUSTED_PRIORITY, False
        if book.score(peer) >= book.params.prior_mean - 1e-9:
            return UNPROVEN_PRIORITY, True
        return SUSPECT_PRIORITY, True

    def task_done(self, peer: str) -> None:
        """Release one of ``peer``'s admitted tasks (the task server calls it in a ``finally``)."""
        running = self._running.get(peer, 0)
        if running <= 1:
            self._running.pop(peer, None)
        else:
            self._running[peer] = running - 1

    # ------------------------------------------------------------------ gossip
    def admit(self, peer: str, kind: LimitKind, topic: str) -> bool:
        """Whether to process a gossip message from ``peer`` at all (checked before verifying it)."""
        if not self.enabled:
            return True
        if self._ledger.book.is_banned(peer):
            self._metrics.dropped.labels(topic=topic, reason="banned").inc()
            return False
        within = self.limiter.allow(peer, kind)
        abusive = not self._abuse.allow(peer, kind)
        if within:
            return True
        self._metrics.dropped.labels(topic=topic, reason="rate_limited").inc()
        if abusive:
            self._ledger.record(self._ledger.evidence(peer, Evidence.FLOOD, f"{kind.value}s over {ABUSE_FACTOR:g}x the allowance"))
        return False

    def admit_ad(self, peer: str) -> bool:
        return self.admit(peer, LimitKind.AD, "ads")

    def admit_opinion(self, peer: str) -> bool:
        return self.is_member(peer) and self.admit(peer, LimitKind.OPINION, "trust")

    def check_ad(self, peer: str, ad: CapabilityAd) -> bool:
        """Proof of work of a verified ad; False (ignore the ad) when it is missing or wrong."""
        if self._pow is None or not self.enabled:
            return True
        key = (peer, ad.pow_nonce)
        if key in self._pow_ok:
            return True
        if self._pow.verify(peer, ad.pow_nonce):
            self._pow_ok.add(key)
            return True
        self._metrics.dropped.labels(topic="ads", reason="proof_of_work").inc()
        if peer not in self._pow_reported:  # once per peer: a misconfigured node is not a forger
            self._pow_reported.add(peer)
            self._ledger.observe(EvidenceEvent(
                peer, Evidence.PROTOCOL_VIOLATION,
                f"nonce {ad.pow_nonce} lacks {self._pow.difficulty_bits} leading zero bits",
                ViolationKind.PROOF_OF_WORK, ViolationSource.AD,
            ))
        return False

    def forget(self, peer: str) -> None:
        self.limiter.forget(peer)
        self._abuse.forget(peer)
        self._told_banned.pop(peer, None)
        self._telling_banned.pop(peer, None)



def _ms(seconds: float) -> int:
    if not math.isfinite(seconds):
        return MAX_RETRY_MS
    return max(0, min(MAX_RETRY_MS, int(seconds * 1000)))
