"""Errors of the node's trust wiring (all are NodeErrors, so the CLI prints one line)."""

from __future__ import annotations

from ..errors import NodeError

__all__ = ["PeerNotKnown", "TrustWiringError"]


class TrustWiringError(NodeError):
    """Base class of the trust wiring's errors."""


class PeerNotKnown(TrustWiringError):
    """``trust explain`` was asked about a peer this node has no evidence, ad or opinion about."""

    def __init__(self, peer: str, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"this node knows nothing about peer {peer!r}{extra}; "
            "`peermind peers --trust` lists the peers it has evidence about"
        )
        self.peer = peer
