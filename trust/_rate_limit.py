"""Token buckets per peer, with allowances that grow with reputation.

A newcomer gets ``newcomer_limit_factor`` of the full allowance; the share
grows linearly to 1 as its score rises from the newcomer prior to the trusted
threshold, shrinks below the prior, and is zero while the peer is banned.
Requester allowances (requests and work, i.e. tokens) are further scaled by the peer's
conduct as a requester (``RequesterConduct``): good answers do not buy room to flood.
A cost larger than the whole bucket is charged as a full bucket (one big task may run
when the bucket is full, then the peer waits for it to refill).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from enum import StrEnum

from ._conduct import RequesterConduct
from ._errors import InvalidInput, RateLimited
from ._params import TrustParams
from ._reputation import ReputationBook

__all__ = ["LimitKind", "RateLimiter", "TokenBucket"]


class LimitKind(StrEnum):
    """Separate budgets, so a peer flooding ads cannot starve its own requests and vice versa."""

    REQUEST = "request"
    AD = "ad"
    OPINION = "opinion"
    WORK = "work"
    """Prompt + generated tokens of the tasks a peer has this node run."""


REQUESTER_KINDS = frozenset({LimitKind.REQUEST, LimitKind.WORK})


class TokenBucket:
    """Classic token bucket: ``rate`` tokens per second, at most ``burst`` stored; starts full."""

    def __init__(
        self, rate: float, burst: float, now: Callable[[], float] = time.monotonic
    ) -> None:
        _check_limits(rate, burst)
        self._now = now
        self.rate, self.burst = float(rate), float(burst)
        self.tokens = self.burst
        self._last = now()

    def set_limits(self, rate: float, burst: float) -> None:
        """Change rate and capacity (stored tokens are clipped to the new capacity)."""
        _check_limits(rate, burst)
        self._refill()
        self.rate, self.burst = float(rate), float(burst)
        self.tokens = min(self.tokens, self.burst)

    def retry_after(self, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are available (0 if now; inf if cost > burst)."""
        self._refill()
        if cost > self.burst:
            return math.inf
        return max(0.0, (cost - self.tokens) / self.rate)

    def try_acquire(self, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens if available."""
        if not cost > 0:
            raise InvalidInput(f"cost must be > 0, got {cost!r}")
        self._refill()
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        return False

    def acquire(self, cost: float = 1.0) -> None:
        """Take ``cost`` tokens or raise RateLimited with the wait needed."""
        if not self.try_acquire(cost):
            raise RateLimited(self.retry_after(cost))

    def _refill(self) -> None:
        now = self._now()
        elapsed = now - self._last
        self._last = now
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)


class RateLimiter:
    """Per-peer buckets for requests, ads and opinions, sized by the peer's reputation.

    ``now`` is a monotonic clock for the buckets; bans come from the book (unix time).
    Without a book every peer is treated as a newcomer. At most
    ``max_tracked_peers`` peers are tracked; the least recently seen is dropped
    (it comes back with a newcomer's full bucket, like any new identity).
    """

    def __init__(
        self,
        params: TrustParams | None = None,
        book: ReputationBook | None = None,
        now: Callable[[], float] = time.monotonic,
        conduct: RequesterConduct | None = None,
    ) -> None:
        self.params = params if params is not None else (book.params if book else TrustParams())
        self.book = book
        self._now = now
        self.conduct = conduct
        self._peers: OrderedDict[str, dict[LimitKind, TokenBucket]] = OrderedDict()

    def allowance_factor(self, peer: str) -> float:
        """Share of the full allowance this peer gets now (0 when banned)."""
        p = self.params
        if self.book is None:
            return p.newcomer_limit_factor
        if self.book.is_banned(peer):
            return 0.0
        score, prior = self.book.score(peer), p.prior_mean
        if score < prior:
            return p.newcomer_limit_factor * score / prior
        grown = min(1.0, (score - prior) / (p.trusted_threshold - prior))
        return p.newcomer_limit_factor + (1 - p.newcomer_limit_factor) * grown

    def limits(self, peer: str, kind: LimitKind) -> tuple[float, float]:
        """(rate per second, burst) currently granted to ``peer`` for ``kind``."""
        kind = _limit_kind(kind)
        rate = getattr(self.params, f"{kind.value}_rate")
        burst = getattr(self.params, f"{kind.value}_burst")
        factor = self.allowance_factor(peer)
        if kind in REQUESTER_KINDS and self.conduct is not None:
            factor *= self.conduct.factor(peer)
        return max(rate * factor, 1e-9), max(1.0, burst * factor)

    def allow(self, peer: str, kind: LimitKind, cost: float = 1.0) -> bool:
        """True and charged if within the allowance, False otherwise."""
        try:
            self.check(peer, kind, cost)
        except RateLimited:
            return False
        return True

    def check(self, peer: str, kind: LimitKind, cost: float = 1.0) -> None:
        """Charge ``cost`` or raise RateLimited (the node then records Evidence.FLOOD)."""
        kind = _limit_kind(kind)
        if self.book is not None:
            until = self.book.ban_until(peer)
            if until is not None:
                raise RateLimited(
                    until - self.book.now(), peer=peer, kind=kind.value, detail="peer is banned"
                )
        rate, burst = self.limits(peer, kind)
        bucket = self._bucket(peer, kind, rate, burst)
        cost = min(cost, bucket.burst)
        if not bucket.try_acquire(cost):
            raise RateLimited(
                bucket.retry_after(cost),
                peer=peer,
                kind=kind.value,
                detail=f"{rate:.3g}/s, burst {burst:.3g}",
            )

    def refund(self, peer: str, kind: LimitKind, amount: float) -> None:
        """Give back ``amount`` tokens charged in advance but not used (never above the burst)."""
        buckets = self._peers.get(peer)
        bucket = buckets.get(_limit_kind(kind)) if buckets is not None else None
        if bucket is not None and amount > 0:
            bucket.tokens = min(bucket.burst, bucket.tokens + amount)

    def forget(self, peer: str) -> None:
        """Drop a peer's buckets (e.g. on disconnect)."""
        self._peers.pop(peer, None)

    def __len__(self) -> int:
        """Number of peers currently tracked."""
        return len(self._peers)

    def _bucket(self, peer: str, kind: LimitKind, rate: float, burst: float) -> TokenBucket:
        buckets = self._peers.pop(peer, None) or {}
        self._peers[peer] = buckets
        while len(self._peers) > self.params.max_tracked_peers:
            self._peers.popitem(last=False)
        bucket = buckets.get(kind)
        if bucket is None:
            bucket = buckets[kind] = TokenBucket(rate, burst, self._now)
        elif (bucket.rate, bucket.burst) != (rate, burst):
            bucket.set_limits(rate, burst)
        return bucket


def _limit_kind(kind: str) -> LimitKind:
    try:
        return LimitKind(kind)
    except ValueError:
        raise InvalidInput(f"unknown limit kind {kind!r}; use request, ad, opinion or work") from None


def _check_limits(rate: float, burst: float) -> None:
    for name, value in (("rate", rate), ("burst", burst)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidInput(f"token bucket {name} must be a finite number, got {value!r}")
    if rate <= 0 or burst < 1:
        raise InvalidInput(f"token bucket needs rate > 0 and burst >= 1, got {rate}, {burst}")
