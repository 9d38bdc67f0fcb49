"""Peer-ID validation without depending on ``peermind.protocol``.

Peers are identified by their libp2p peer ID in base58 text form
(``12D3KooW...`` for Ed25519 keys, ``Qm...`` for hashed keys). We only check
the shape: the node has already authenticated the ID through Noise, and a cheap
check keeps garbage (empty strings, whitespace, huge blobs) out of the books.
"""

from __future__ import annotations

import re

from ._errors import InvalidInput

__all__ = ["MAX_PEER_ID_LEN", "check_peer_id"]

MAX_PEER_ID_LEN = 128
_BASE58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]+")


def check_peer_id(peer: object, what: str = "peer") -> str:
    """Return ``peer`` if it looks like a base58 peer ID, else raise :class:`InvalidInput`."""
    if not isinstance(peer, str):
        raise InvalidInput(f"{what} must be a base58 peer-ID string, got {type(peer).__name__}")
    if not 1 <= len(peer) <= MAX_PEER_ID_LEN or _BASE58.fullmatch(peer) is None:
        shown = peer if len(peer) <= 60 else peer[:57] + "..."
        raise InvalidInput(
            f"{what} {shown!r} is not a base58 peer ID (1-{MAX_PEER_ID_LEN} chars of "
            "1-9A-HJ-NP-Za-km-z); pass PeerID.to_base58(), e.g. '12D3KooW...'"
        )
    return peer
