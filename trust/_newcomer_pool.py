"""One allowance shared by every unproven identity, beside each peer's own.

Per-peer allowances bound what one identity costs; they do not bound a thousand of
them, since each fresh key brings a fresh newcomer bucket. The pool caps all unproven
peers together, whatever their number: at most ``rate`` requests per second (burst
``burst``), at most ``concurrent`` of their tasks running or queued at once, and at most
``work_rate()`` units of work per second (the node charges model-seconds: prompt at
prompt speed plus generation at generation speed). Requests and running slots alone let
the pool admit one long generation after another, each taking a core while it decodes
(a profile of a Sybil run: 92% of an honest node's CPU); the work budget bounds what the
admitted work costs, not only how many pieces of it there are. Work is charged on
admission (the task's estimate: all it may generate) and settled on completion (the
unused part comes back), like each peer's own work allowance. The work budget holds only
while the model is contended (``ModelContention``): idle model time taken by unproven
peers is taken from no one.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from ._contention import ModelContention
from ._errors import InvalidInput

__all__ = ["NewcomerPool", "PoolRefusal"]

WORK_WINDOW_S = 60.0
"""The work bucket holds this many seconds of ``work_rate`` (never less than ``min_work_burst``)."""
MAX_CHARGES = 4096
"""Work charges awaiting settlement; past it the oldest is refunded (a task never settled)."""


@dataclass(frozen=True)
class PoolRefusal:
    """Why the pool turned a request away, and when to try again."""

    detail: str
    retry_after_s: float


class _Charge(NamedTuple):
    tokens: float
    expires_at: float


class NewcomerPool:
    """A request bucket, a concurrency cap and a work (token) bucket shared by all unproven peers."""

    def __init__(self, *, rate: float, burst: float, concurrent: int,
                 work_rate: Callable[[], float] | None = None, min_work_burst: float = 512.0,
                 contention: ModelContention | None = None,
                 now: Callable[[], float] = time.monotonic) -> None:
        """``work_rate()`` is read at every charge (a node's own speed changes with load); None:
        no work budget. A task costing more than the whole bucket is admitted on a full bucket and
        leaves it in debt, so the pool's average stays at ``work_rate`` whatever the task sizes.
        ``contention``: the budget is charged only while it says the model is contended (None:
        always)."""
        if not (math.isfinite(rate) and rate > 0 and burst >= 1 and concurrent >= 1 and min_work_burst >= 1):
            raise InvalidInput(f"newcomer pool needs rate > 0, burst >= 1, concurrent >= 1, work burst >= 1; "
                               f"got {rate}, {burst}, {concurrent}, {min_work_burst}")
        self.rate = rate
        self.burst = burst
        self.concurrent = concurrent
        self._now = now
        self._tokens = burst
        self._at = now()
        self.running = 0
        self.refused = 0
        self._work_rate = work_rate
        self.min_work_burst = min_work_burst
        self._work: float | None = None
        """Tokens in the work bucket; None until first read (full then: ``work_rate`` may read a
        speed its owner measures only after building the pool)."""
        self._work_at = now()
        self._charges: OrderedDict[bytes, _Charge] = OrderedDict()
        self.work_charged = 0.0
        """Work charged and not refunded so far (what unproven peers' work really took, once settled)."""
        self.contention = contention
        self.uncharged = 0
        """Tasks admitted without a charge because the model was not contended."""

    def acquire(self) -> PoolRefusal | None:
        """Take one request and one running slot; None when admitted (pair with ``release``)."""
        now = self._now()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self.running >= self.concurrent:
            self.refused += 1
            return PoolRefusal(f"unproven peers together already run {self.running} tasks here "
                               f"(limit {self.concurrent})", 1.0)
        if self._tokens < 1:
            self.refused += 1
            return PoolRefusal(f"unproven peers together are over {self.rate:g} requests/s here",
                               (1 - self._tokens) / self.rate)
        self._tokens -= 1
        self.running += 1
        return None

    def release(self) -> None:
        self.running = max(0, self.running - 1)

    # ------------------------------------------------------------------ work
    @property
    def work_rate(self) -> float | None:
        """Work per second all unproven peers together may use now (None: not metered)."""
        return None if self._work_rate is None else self._work_limits()[0]

    @property
    def work_available(self) -> float:
        """Work in the bucket now (negative: in debt after a task larger than the bucket)."""
        return self._refill_work()

    def charge(self, key: bytes, tokens: float, expires_at: float) -> PoolRefusal | None:
        """Charge a task's estimated work ``tokens`` under ``key`` (its task ID), or refuse it; pair with
        ``settle``. ``expires_at`` (this pool's clock): when the charge is refunded if never settled."""
        if self._work_rate is None:
            return None
        if self.contention is not None and not self.contention.contended():
            self.uncharged += 1
            return None
        self._expire()
        available = self._refill_work()
        rate, burst = self._work_limits()
        need = min(tokens, burst)
        if available < need:
            self.refused += 1
            return PoolRefusal(f"unproven peers together have used their share of this node's work "
                               f"({rate:.3g}/s; {tokens:.3g} asked, {max(0.0, available):.3g} left)",
                               (need - available) / rate)
        self._work = available - tokens
        self.work_charged += tokens
        self._charges[key] = _Charge(tokens, expires_at)
        while len(self._charges) > MAX_CHARGES:
            self._refund(self._charges.popitem(last=False)[1].tokens)
        return None

    def settle(self, key: bytes, used: float) -> None:
        """Give back what a charged task did not use (all of it when it never ran: ``used`` 0)."""
        charge = self._charges.pop(key, None)
        if charge is not None:
            self._refund(charge.tokens - max(0.0, used))

    @property
    def pending_charges(self) -> int:
        return len(self._charges)

    def _refund(self, tokens: float) -> None:
        if tokens > 0:
            self._work = min(self._work_limits()[1], self._refill_work() + tokens)
            self.work_charged -= tokens

    def _expire(self) -> None:
        now = self._now()
        while self._charges:
            key, charge = next(iter(self._charges.items()))
            if charge.expires_at > now:
                return
            del self._charges[key]
            self._refund(charge.tokens)

    def _work_limits(self) -> tuple[float, float]:
        assert self._work_rate is not None
        rate = self._work_rate()
        rate = rate if math.isfinite(rate) and rate > 0 else 1e-3
        return rate, max(self.min_work_burst, rate * WORK_WINDOW_S)

    def _refill_work(self) -> float:
        """The work bucket now (``min_work_burst`` when not metered)."""
        now = self._now()
        if self._work_rate is None:
            return self.min_work_burst
        rate, burst = self._work_limits()
        work = burst if self._work is None else min(burst, self._work + (now - self._work_at) * rate)
        self._work, self._work_at = work, now
        return work
