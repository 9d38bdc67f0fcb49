"""Proof of work binding an identity to some CPU time, to slow down identity minting.

The challenge depends only on (network, peer ID), so a peer solves it once per
identity and presents the nonce in its handshake/ads; verification costs one
hash. It raises the price of a thousand Sybils, it does not stop a well-funded
attacker (see README).
"""

from __future__ import annotations

import hashlib

from ._errors import InsufficientWork, InvalidInput, TrustError
from ._ids import check_peer_id

__all__ = [
    "MAX_DIFFICULTY_BITS",
    "NONCE_BYTES",
    "ProofOfWork",
    "pow_challenge",
    "solve",
    "verify",
]

NONCE_BYTES = 8
MAX_DIFFICULTY_BITS = 64
_DOMAIN = b"peermind/pow/v1\x00"
_MAX_CHALLENGE = 1024


def pow_challenge(peer_id: str, network: str) -> bytes:
    """32-byte challenge for ``peer_id`` on ``network`` (domain-separated SHA-256)."""
    check_peer_id(peer_id)
    if not isinstance(network, str) or not network or "\x00" in network:
        raise InvalidInput(f"network must be a non-empty name without NUL bytes, got {network!r}")
    return hashlib.sha256(_DOMAIN + network.encode() + b"\x00" + peer_id.encode()).digest()


def solve(challenge: bytes, difficulty_bits: int, max_attempts: int | None = None) -> int:
    """Smallest nonce whose sha256(challenge || nonce as 8 big-endian bytes) has the leading zeros.

    Expected cost: 2**difficulty_bits hashes. Raises TrustError if
    ``max_attempts`` hashes did not find one.
    """
    _check(challenge, difficulty_bits)
    if difficulty_bits == 0:
        return 0
    limit = 2 ** (8 * NONCE_BYTES) if max_attempts is None else min(max_attempts, 2**64)
    shift = 256 - difficulty_bits
    prefix = hashlib.sha256(challenge)
    for nonce in range(limit):
        h = prefix.copy()
        h.update(nonce.to_bytes(NONCE_BYTES, "big"))
        if int.from_bytes(h.digest(), "big") >> shift == 0:
            return nonce
    raise TrustError(f"no nonce with {difficulty_bits} leading zero bits in {limit} attempts")


def verify(challenge: bytes, nonce: int, difficulty_bits: int) -> bool:
    """True if ``nonce`` solves ``challenge`` at ``difficulty_bits`` (always True at 0 bits)."""
    _check(challenge, difficulty_bits)
    if (
        isinstance(nonce, bool)
        or not isinstance(nonce, int)
        or not 0 <= nonce < 2 ** (8 * NONCE_BYTES)
    ):
        return False
    if difficulty_bits == 0:
        return True
    digest = hashlib.sha256(challenge + nonce.to_bytes(NONCE_BYTES, "big")).digest()
    return int.from_bytes(digest, "big") >> (256 - difficulty_bits) == 0


class ProofOfWork:
    """The network's configured work requirement, bound to a network name."""

    def __init__(self, network: str, difficulty_bits: int) -> None:
        pow_challenge("1", network)  # validates the network name
        _check(b"", difficulty_bits)
        self.network = network
        self.difficulty_bits = difficulty_bits

    def challenge(self, peer_id: str) -> bytes:
        return pow_challenge(peer_id, self.network)

    def solve(self, peer_id: str) -> int:
        """Nonce for our own identity (done once at start-up; cache it with the key)."""
        return solve(self.challenge(peer_id), self.difficulty_bits)

    def verify(self, peer_id: str, nonce: int) -> bool:
        return verify(self.challenge(peer_id), nonce, self.difficulty_bits)

    def require(self, peer_id: str, nonce: int) -> None:
        """Raise InsufficientWork unless ``nonce`` is a valid proof for ``peer_id``."""
        if not self.verify(peer_id, nonce):
            raise InsufficientWork(self.difficulty_bits, peer_id)


def _check(challenge: bytes, difficulty_bits: int) -> None:
    if not isinstance(challenge, bytes | bytearray) or len(challenge) > _MAX_CHALLENGE:
        raise InvalidInput(f"challenge must be at most {_MAX_CHALLENGE} bytes")
    if (
        isinstance(difficulty_bits, bool)
        or not isinstance(difficulty_bits, int)
        or not 0 <= difficulty_bits <= MAX_DIFFICULTY_BITS
    ):
        raise InvalidInput(
            f"difficulty_bits must be an integer in 0..{MAX_DIFFICULTY_BITS} (0 disables), "
            f"got {difficulty_bits!r}"
        )
