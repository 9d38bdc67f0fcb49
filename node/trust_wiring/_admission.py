"""Who may use this node: bans, per-peer rate limits and proof of work.

- Task requests: a banned peer gets a ``TaskRefusal`` with reason ``untrusted``; a peer over
  its request allowance gets ``rate_limited`` (with ``retry_after_ms``) and flood evidence.
  Allowances grow with reputation (``peermind.trust.RateLimiter``): a newcomer gets a
  quarter, a banned peer nothing.
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

from peermind.protocol import CapabilityAd, TaskRefusal
from peermind.trust import (
    Evidence,
    LimitKind,
    ProofOfWork,
    RateLimited,
    RateLimiter,
)

from ._ledger import TrustLedger
from ._metrics import TrustMetrics
from ._params import ABUSE_FACTOR, abuse_params

__all__ = ["Admission"]

MAX_RETRY_MS = 86_400_000
_NO_TASK = b"\0" * 16


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
        self.limiter = RateLimiter(ledger.params, ledger.book, now=now)
        self._abuse = RateLimiter(abuse_params(ledger.params), ledger.book, now=now)
        self._pow_ok: set[tuple[str, int]] = set()
        self._pow_reported: set[str] = set()

    # ------------------------------------------------------------------ tasks
    def gate_task(self, peer: str) -> TaskRefusal | None:
        """A refusal for ``peer``'s task request, or None to serve it."""
        if not self.enabled:
            return None
        book = self._ledger.book
        until = book.ban_until(peer)
        if until is not None:
            self._metrics.refusals.labels(reason="untrusted").inc()
            wait_ms = _ms(until - book.now())
            return TaskRefusal(task_id=_NO_TASK, reason="untrusted",
                               detail="this node does not serve you during a ban cool-down",
                               retry_after_ms=wait_ms)
        try:
            self.limiter.check(peer, LimitKind.REQUEST)
        except RateLimited as exc:
            self._metrics.refusals.labels(reason="rate_limited").inc()
            self._ledger.record(self._ledger.evidence(peer, Evidence.FLOOD, f"request: {exc}"))
            return TaskRefusal(task_id=_NO_TASK, reason="rate_limited", detail=str(exc)[:512],
                               retry_after_ms=_ms(exc.retry_after_s))
        return None

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
        return self.admit(peer, LimitKind.OPINION, "trust")

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
            self._ledger.record(self._ledger.evidence(
                peer, Evidence.PROTOCOL_VIOLATION,
                f"pow: nonce {ad.pow_nonce} lacks {self._pow.difficulty_bits} leading zero bits",
            ))
        return False

    def forget(self, peer: str) -> None:
        self.limiter.forget(peer)
        self._abuse.forget(peer)



def _ms(seconds: float) -> int:
    if not math.isfinite(seconds):
        return MAX_RETRY_MS
    return max(0, min(MAX_RETRY_MS, int(seconds * 1000)))
