"""When a starting node has heard the network it joined, so its idle LLM work may begin.

Idle learning and regular trust probes run the model (one scoring each, ~0.3 s of a core
for SmolLM2). Started the moment a node is ready, every node of a fresh network ran them
while ads were still spreading; 20 nodes sharing 2 cores saturated them, stream
negotiations timed out, connections dropped and so did the peers' ads (all-SmolLM2 N = 20
converged in 126-190 s; docs/results/scale-system*.json). Such work is worth more once the
node knows which models its peers serve, which is also when ad exchange stops needing the
CPU. A node counts as settled while no new peer's ad arrived for ``QUIET_S``, and from
``MAX_WAIT_S`` after it started whatever happens (a network that keeps churning must not
keep it from learning for ever). Until then a new peer unsettles it again: the first nodes
of a testnet settled before the rest had started, and their idle learning (the model and
the query embedder, a core each) ran while 18 light nodes joined through them, so the hubs
every newcomer waited on got a twentieth of the machine. A newcomer's first trust probes
wait for it too (busy or not, they go out once the node has joined): each is a scoring on
the prober and one on the newcomer, and 20 SmolLM2 nodes probing each other as they
joined kept their model threads busy 30-57% of the window the ads spread in (py-spy,
docs/results/scale-s12.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .ads import AdBoard

QUIET_S = 5.0
"""No new peer's ad for this long: the ads of the network joined have arrived."""
MAX_WAIT_S = 60.0
"""Settled at the latest this long after start, however the ads come and go."""


class JoinSettling:
    """Tells whether the ad board has stopped gaining peers since the node started."""

    def __init__(self, board: AdBoard, *, quiet_s: float = QUIET_S, max_wait_s: float = MAX_WAIT_S,
                 now: Callable[[], float] = time.time) -> None:
        self._board = board
        self._quiet_s = quiet_s
        self._now = now
        self._max_wait_s = max_wait_s
        self._deadline = now() + max_wait_s
        self._last_new = now()
        self._known: set[str] = set()

    def start(self) -> None:
        """Start the clocks now: the node just went on the network.

        A node is built before it loads and measures its model (seconds, 20 on a busy
        machine); counted from then, it was settled the moment it went online, before any
        peer's ad could arrive, and its idle work began while it joined.
        """
        now = self._now()
        self._last_new = now
        self._deadline = now + self._max_wait_s
        self._known = set()

    def settled(self) -> bool:
        """True while no new peer's ad arrived for ``quiet_s``, and always once ``max_wait_s`` passed."""
        now = self._now()
        if now >= self._deadline:
            return True
        entries = self._board.fresh()
        new = [e for e in entries if e.peer_id not in self._known]
        if new:  # a peer seen again after its ad dropped counts as new: the network still moves
            self._last_new = max(self._last_new, *(e.received_at for e in new))
        self._known = {e.peer_id for e in entries}
        return now - self._last_new >= self._quiet_s
