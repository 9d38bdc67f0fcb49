"""Measured round-trip time to the peers a question could go to (libp2p ping, smoothed).

An ad says how fast a peer computes, not how far away it is: a fast peer 200 ms away can
be the slower choice for a short answer than a slow one next door. Routing adds the
measured round trip to each remote candidate's latency estimate (``Candidate.rtt_ms``),
so both the utility and ``budget_ms`` feasibility see it.

Bounded work whatever N is: every ``interval_s`` two pings to each of at most ``max_peers``
peers serving a model (the least recently measured first); an EWMA smooths jitter.
A failed ping leaves the last estimate (a vanished peer's ad goes away on its own).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import trio
from libp2p.abc import IHost
from libp2p.host.ping import PingService
from libp2p.peer.id import ID

log = logging.getLogger("peermind.node.rtt")

PING_TIMEOUT_S = 10.0  # two pings and a stream negotiation over a slow link (800 ms: ~4 s)


class RttBook:
    """Smoothed round-trip times per peer, in milliseconds."""

    def __init__(self, alpha: float = 0.3) -> None:
        self._alpha = alpha
        self._rtt: dict[str, float] = {}
        self._at: dict[str, float] = {}

    def observe(self, peer: str, ms: float) -> None:
        """Fold one measurement into the peer's smoothed round trip (one slow ping moves it a little)."""
        old = self._rtt.get(peer)
        self._rtt[peer] = ms if old is None else (1 - self._alpha) * old + self._alpha * ms
        self._at[peer] = time.monotonic()

    def rtt_ms(self, peer: str) -> float | None:
        """The peer's smoothed round trip in ms; None until measured."""
        return self._rtt.get(peer)

    def stalest(self, peers: list[str], limit: int) -> list[str]:
        """Up to ``limit`` of ``peers``, never measured first, then least recently measured."""
        return sorted(peers, key=lambda p: self._at.get(p, 0.0))[:limit]

    def snapshot(self) -> dict[str, float]:
        """Every measured peer's round trip (ms, one decimal), for status."""
        return {p: round(v, 1) for p, v in self._rtt.items()}


class RttMonitor:
    """Pings the peers ``targets()`` names, feeding an ``RttBook``; runs until cancelled."""

    def __init__(self, host: IHost, targets: Callable[[], list[str]], *, interval_s: float = 10.0,
                 max_peers: int = 16, book: RttBook | None = None) -> None:
        self.book = book or RttBook()
        self._host = host
        self._targets = targets
        self._interval_s = interval_s
        self._max_peers = max_peers
        self._pinger = PingService(host)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Measure the stalest targets every ``interval_s``, at most ``max_peers`` a round, until cancelled."""
        task_status.started()
        while True:
            for peer in self.book.stalest(self._targets(), self._max_peers):
                await self.measure(peer)
            await trio.sleep(self._interval_s)

    async def measure(self, peer: str) -> float | None:
        """Two pings, the second timed (the first may open the stream); None if they failed."""
        times: list[float] = []
        try:
            with trio.fail_after(PING_TIMEOUT_S):
                last = time.perf_counter()
                async for _rtt in self._pinger.ping_iter(ID.from_base58(peer), ping_amt=2):
                    now = time.perf_counter()
                    times.append((now - last) * 1000)  # libp2p rounds to whole ms; this keeps the fraction
                    last = now
        except Exception as exc:  # an unreachable peer, a reset: keep the last estimate
            log.debug("ping failed", extra={"peer": peer, "error": str(exc)[:200]})
            return None
        if not times:
            return None
        self.book.observe(peer, times[-1])
        return times[-1]
