"""What federated training needs of the node that runs it: one typed port, not the daemon.

The daemon's ``Node`` satisfies :class:`TrainingNode` structurally (it is handed in as
``TrainingService(node)``); training never imports the daemon, and a reader sees here
everything training may touch. ``host`` and ``gossip`` are None until the host is up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from libp2p.abc import IHost
    from peermind.protocol import Signer

    from ..collab.router_state import RouterHolder
    from ..config import NodeConfig
    from ..p2p.ads import AdBoard, AdGossip
    from ..store import Store

__all__ = ["TrainingNode"]


class TrainingNode(Protocol):
    """The node's parts and hooks federated training uses."""

    @property
    def config(self) -> NodeConfig:
        """The node's settings (training, limits, data_dir, join_training)."""

    @property
    def peer_id(self) -> str:
        """This node's peer ID (base58)."""

    @property
    def store(self) -> Store:
        """Where feedback rows and training rounds live."""

    @property
    def signer(self) -> Signer:
        """Signs this node's training messages."""

    @property
    def board(self) -> AdBoard:
        """Fresh capability ads: who offers training, at which addresses."""

    @property
    def router(self) -> RouterHolder:
        """The router this node routes with; adopted federated routers go into it."""

    @property
    def host(self) -> IHost | None:
        """The libp2p host the training protocol is served on."""

    @property
    def gossip(self) -> AdGossip | None:
        """Republishes this node's ad when its training flag changes."""

    def reputation(self, peer_b58: str) -> float:
        """This node's local reputation of a peer in [0, 1] (weighs its training updates)."""

    def record_evidence(self, peer: str, kind: str, detail: str) -> None:
        """Hand trust what was learnt about a peer (e.g. a protocol violation on the FL stream)."""
