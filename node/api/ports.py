"""What the HTTP layer needs of the node: one typed port, so api/ never imports the daemon.

The daemon's ``Node`` satisfies :class:`ApiNode` structurally; ``peermind node run`` (the
composition root) builds the app over it. A route module may take a narrower part
(``node.collab``, ``node.training``, ``node.trust``) instead of the whole port.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..collab.constraints import NO_CONSTRAINTS, NO_TACTICS
from ._console_state import ConsoleNode

if TYPE_CHECKING:
    from ..collab.answer import Answer
    from ..collab.candidates import Candidate
    from ..collab.constraints import Constraints, Tactics
    from ..collab.job import Job
    from ..collab.service import Collaboration
    from ..metrics import NodeMetrics
    from ..p2p.ads import AdBoard
    from ..p2p.dht import Provider
    from ..training import TrainingService
    from ..trust_wiring import TrustWiring

__all__ = ["ApiNode"]


class ApiNode(ConsoleNode, Protocol):
    """The node as the API serves it: asking, peers, providers, status, metrics and the parts
    with routes of their own (``collab``: router, feedback, seeding; ``training``:
    ``/peermind/train/*``; ``board``: ``/peermind/peers``; ``metrics``: ``/metrics``)."""

    collab: Collaboration
    training: TrainingService
    board: AdBoard
    metrics: NodeMetrics

    @property
    def trust(self) -> TrustWiring:
        """Reputation from evidence (``/peermind/trust``)."""

    def candidates(self) -> list[Candidate]:
        """Every model this node can ask now (itself and peers with fresh ads)."""

    async def ask(self, job: Job, *, mode: str = "auto", constraints: Constraints = NO_CONSTRAINTS,
                  timeout_s: float = 60.0, tactics: Tactics = NO_TACTICS) -> Answer:
        """Answer ``job`` through the network (or locally) and record it."""

    def issue_invite(self, ttl_s: float) -> dict[str, object]:
        """A signed invite token to this node's network, valid ``ttl_s`` seconds (``node/invite.py``)."""

    async def find_providers(self, kind: str, name: str, *, timeout_s: float = 5.0) -> list[Provider]:
        """Peers that registered ``kind/name`` (model, skill, tag) in the DHT."""
