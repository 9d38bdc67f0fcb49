"""Who probes a newcomer: a few nodes chosen by hash, not every node of the network.

Before, every node probed every newcomer, so a fresh network of N nodes did ~3·N² probes
(and ~20·N² idle ones later): each a model call on both sides. Now each newcomer has
``PROBERS_PER_PEER`` probers: the model-serving nodes whose ``sha256(newcomer | node)`` is
smallest. Every node computes the same ranking from the ads it holds, so each can tell
on its own whether it is one of them, with no message exchanged. The others learn from
the probers' signed opinions (global trust): a peer the network vouches for needs no
probes of theirs. EigenTrust cannot express distrust, so a peer still unvouched after
``VOUCH_GRACE_S`` (a liar, or probers that never judged it) is probed by every node as
before: liars cost O(N) probes, honest newcomers O(k). Networks of up to k + 1 model
nodes behave exactly as before (every node is a prober of every other).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable

__all__ = ["PROBERS_PER_PEER", "VOUCH_GRACE_S", "ProbeShare", "probers_of"]

PROBERS_PER_PEER = 3
"""Probers per newcomer: enough that one slow or lying prober does not leave it unjudged."""
VOUCH_GRACE_S = 90.0
"""How long a non-prober waits for the network to vouch for a peer before probing it itself:
the probers' start-up probes (seconds) plus an opinion round (``trust.opinion_interval_s``,
30 s) and its spread, with room to spare."""


def _rank(peer: str, node: str) -> bytes:
    return hashlib.sha256(f"{peer}|{node}".encode()).digest()


def probers_of(peer: str, nodes: Iterable[str], k: int = PROBERS_PER_PEER) -> set[str]:
    """The ``k`` nodes (``peer`` itself left out) that probe ``peer``."""
    others = {n for n in nodes if n != peer}
    return set(sorted(others, key=lambda n: _rank(peer, n))[:k])


class ProbeShare:
    """Whether this node owes a peer probes: as one of its probers, or because nobody vouches."""

    def __init__(self, self_id: str, *, vouched: Callable[[str], bool], k: int = PROBERS_PER_PEER,
                 grace_s: float = VOUCH_GRACE_S, now: Callable[[], float] = time.monotonic) -> None:
        self.self_id = self_id
        self._vouched = vouched
        self.k = k
        self.grace_s = grace_s
        self._now = now
        self._first_seen: dict[str, float] = {}

    def is_prober(self, peer: str, nodes: Iterable[str]) -> bool:
        """``nodes``: the model-serving nodes this node knows (itself included when it serves one)."""
        return self.self_id in probers_of(peer, nodes, self.k)

    def owes(self, peer: str, nodes: Iterable[str]) -> bool:
        """True for a peer this node probes; the first call for a peer starts its grace."""
        first = self._first_seen.setdefault(peer, self._now())
        if self.is_prober(peer, nodes):
            return True
        return self._now() - first >= self.grace_s and not self._vouched(peer)
