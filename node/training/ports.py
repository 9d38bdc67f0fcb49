"""What federated training needs of the node that runs it: one typed port, not the daemon.

The daemon's ``Node`` satisfies :class:`TrainingNode` structurally (it is handed in as
``TrainingService(node)``); training never imports the daemon, and a reader sees here
everything training may touch. ``host`` and ``gossip`` are None until the host is up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..ports import NodeCore

if TYPE_CHECKING:
    from libp2p.abc import IHost
    from peermind.protocol import Signer
    from peermind.trust import EvidenceEvent

    from ..collab.router_state import RouterHolder
    from ..p2p.ads import AdBoard, AdGossip
    from ..p2p.membership import Membership

__all__ = ["TrainingNode"]


class TrainingNode(NodeCore, Protocol):
    """The node's parts and hooks federated training uses besides its settings and store:
    the ``signer`` of its training messages, the ``board`` of fresh ads (who offers
    training, where), the ``router`` adopted federated routers go into, the libp2p
    ``host`` the training protocol is served on and the ``gossip`` that republishes the
    ad when the training flag changes."""

    signer: Signer
    board: AdBoard
    router: RouterHolder
    host: IHost | None
    gossip: AdGossip | None
    membership: Membership
    """Who this network admits (node/p2p/membership.py): training requests from others are refused."""

    def reputation(self, peer_b58: str) -> float:
        """This node's local reputation of a peer in [0, 1] (weighs its training updates)."""

    def record_evidence(self, event: EvidenceEvent) -> None:
        """Hand trust what was learnt about a peer (e.g. a protocol violation on the FL stream)."""
