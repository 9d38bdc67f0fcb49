"""The contract between the node's libp2p side and the federated engine.

The node implements :class:`GridTransport` over its ``/peermind/fl/1.0.0``
stream protocol; the engine only ever sees peer IDs and bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from ._errors import TransportError

_NODE_ID_MASK = (1 << 63) - 1
_RESERVED_NODE_IDS = 2  # 0 = unset, 1 = Flower's server-side node


def node_id_for_peer(peer_id: str) -> int:
    """Stable Flower node_id for a base58 peer ID: first 8 bytes of sha256, as 63-bit.

    Both sides derive it independently: the server to address a peer, the peer
    to check that an instruction was meant for it.
    """
    if not isinstance(peer_id, str) or not peer_id:
        raise TransportError(f"peer ID must be a non-empty string, got {peer_id!r}")
    value = int.from_bytes(hashlib.sha256(peer_id.encode()).digest()[:8], "big") & _NODE_ID_MASK
    return value if value >= _RESERVED_NODE_IDS else value + _RESERVED_NODE_IDS


@runtime_checkable
class GridTransport(Protocol):
    """Carries one serialised Flower Message to a peer and its reply back."""

    def peers(self) -> list[str]:
        """Base58 peer IDs of the currently reachable training participants."""
        ...

    def exchange(self, peer: str, payload: bytes, timeout_s: float) -> bytes:
        """Blocking request/response, called from the ServerApp's worker thread.

        Returns the reply bytes; raises TransportError on failure or when
        ``timeout_s`` elapses.
        """
        ...


@runtime_checkable
class BatchGridTransport(GridTransport, Protocol):
    """Optional fast path: send to many peers concurrently in one blocking call.

    A trio node can implement it with one ``trio.from_thread.run`` that opens
    all streams in a nursery, so the grid needs no thread per peer.
    """

    def exchange_many(
        self, payloads: Mapping[str, bytes], timeout_s: float
    ) -> Mapping[str, bytes | BaseException]:
        """Reply bytes or the exception per peer; must return within ``timeout_s``."""
        ...
