"""How a peer behaves as a requester, judged apart from how well it answers.

A peer can answer canaries perfectly and still flood: answer reputation must not buy it
capacity as a requester. ``RequesterConduct`` remembers, per peer, until when it was told
to wait (a refusal's ``retry_after``) and counts requests that arrive before then as
ignored back-pressure: a decaying mass (half-life ``conduct_half_life_s``). Its allowance
share as a requester is multiplied by ``1 / (1 + mass / conduct_tolerance)``: an honest
requester that honours ``retry_after`` keeps 1; a flooder's share shrinks with every
request it sends while told to wait, whatever its answers are worth.

Requests already in flight when the refusal was sent cannot have seen it: those arriving
within ``GRACE_S`` of the refusal are not counted.

``keeps_asking(peer)``: the peer already sent one counted early request in the current
wait window (it got its typed refusal), so the receiver may reset the rest unread.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ._params import TrustParams
from ._peer_state import decay_factor

__all__ = ["GRACE_S", "RequesterConduct"]

GRACE_S = 0.25
"""Requests arriving this soon after a refusal were sent before it was seen: not held against the peer."""


@dataclass
class _Conduct:
    wait_until: float = 0.0
    told_at: float = 0.0
    ignored: float = 0.0
    as_of: float = 0.0
    early: int = 0
    """Early requests counted in the current wait window."""


class RequesterConduct:
    """Per-peer record of honoured and ignored ``retry_after``; ``factor(peer)`` scales its allowance."""

    def __init__(self, params: TrustParams, now: Callable[[], float] = time.monotonic) -> None:
        self.params = params
        self._now = now
        self._peers: OrderedDict[str, _Conduct] = OrderedDict()

    def told_to_wait(self, peer: str, retry_after_s: float) -> None:
        """The peer was refused and told to come back after ``retry_after_s`` seconds."""
        now = self._now()
        state = self._state(peer)
        if state.wait_until <= now:
            state.told_at = now  # a new refusal window (not extended by refusals inside one)
            state.early = 0
        state.wait_until = max(state.wait_until, now + max(0.0, retry_after_s))

    def arrived(self, peer: str) -> bool:
        """A request from ``peer`` arrived; True (and counted) if it ignored a ``retry_after``."""
        now = self._now()
        state = self._peers.get(peer)
        if state is None or now >= state.wait_until or now - state.told_at < GRACE_S:
            return False
        self._decay(state, now)
        state.ignored += 1.0
        state.early += 1
        return True

    def keeps_asking(self, peer: str) -> bool:
        """True while ``peer`` is told to wait and already sent an early request in this window
        (which was counted and refused with a type): what more it sends deserves no reading."""
        state = self._peers.get(peer)
        if state is None or state.early < 1:
            return False
        now = self._now()
        return now < state.wait_until and now - state.told_at >= GRACE_S

    def ignored(self, peer: str) -> float:
        """The decayed count of requests sent while told to wait."""
        state = self._peers.get(peer)
        if state is None:
            return 0.0
        self._decay(state, self._now())
        return state.ignored

    def factor(self, peer: str) -> float:
        """Share of its requester allowance the peer keeps: 1 for a requester that honours refusals."""
        return 1.0 / (1.0 + self.ignored(peer) / self.params.conduct_tolerance)

    def forget(self, peer: str) -> None:
        self._peers.pop(peer, None)

    def _state(self, peer: str) -> _Conduct:
        state = self._peers.pop(peer, None) or _Conduct(as_of=self._now())
        self._peers[peer] = state
        while len(self._peers) > self.params.max_tracked_peers:
            self._peers.popitem(last=False)
        return state

    def _decay(self, state: _Conduct, now: float) -> None:
        state.ignored *= decay_factor(now - state.as_of, self.params.conduct_half_life_s)
        state.as_of = max(state.as_of, now)
