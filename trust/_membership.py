"""Who belongs to a network: its name, its proof of work and, for a private one, its secret.

A peer is admitted on a peermind network when it holds a fresh, verified ad that names
the network, carries the network's proof of work for its own peer ID and, on a private
network, a membership proof: ``HMAC-SHA256(key, domain || network || 0x00 || peer_id)``
with ``key = SHA-256("peermind/network-key/v1" || 0x00 || secret)``. The proof is bound
to the peer ID and the network, so seeing it (ads are gossiped) lets nobody else in, and
the secret itself never travels. A network may instead (or also) list admitting peers:
then a peer is a member when it is one of them or its ad carries an unexpired admission
one of them signed for its peer ID (``_admission_cert.py``). Pure logic: the node feeds
it ads and asks for verdicts.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from peermind.protocol import (
    AdmissionError,
    CapabilityAd,
    NotMember,
    Unadvertised,
    WrongNetwork,
)

from ._admission_cert import read_admission, verifies
from ._errors import InvalidInput
from ._pow import ProofOfWork

__all__ = ["MembershipRules", "membership_proof", "network_key"]

_KEY_DOMAIN = b"peermind/network-key/v1\x00"
_PROOF_DOMAIN = b"peermind/member/v1\x00"


def network_key(secret: str) -> bytes:
    """The 32-byte key members derive from the shared secret (what a proof is keyed with)."""
    return hashlib.sha256(_KEY_DOMAIN + secret.encode()).digest()


def membership_proof(key: bytes, network: str, peer_id: str) -> bytes:
    """The 32-byte proof that ``peer_id`` holds ``key`` for ``network`` (goes in its ad)."""
    return hmac.new(key, _PROOF_DOMAIN + network.encode() + b"\x00" + peer_id.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class MembershipRules:
    """A network's admission rules: its name, its proof of work, its key (None: no secret)
    and its admitting peers (empty: no list); with neither the network is open."""

    network: str
    pow: ProofOfWork
    key: bytes | None = None
    admitters: frozenset[str] = frozenset()
    now: Callable[[], float] = field(default=time.time, compare=False)

    @classmethod
    def build(cls, network: str, pow_bits: int, secret: str | None,
              admitters: tuple[str, ...] = ()) -> MembershipRules:
        return cls(network, ProofOfWork(network, pow_bits), network_key(secret) if secret else None,
                   frozenset(admitters))

    @property
    def private(self) -> bool:
        return self.key is not None or bool(self.admitters)

    def own_proof(self, peer_id: str) -> bytes | None:
        """What this node puts in its ad's ``member_proof`` (None on an open network)."""
        return membership_proof(self.key, self.network, peer_id) if self.key is not None else None

    def judge_ad(self, peer_id: str, ad: CapabilityAd) -> AdmissionError | None:
        """Why ``ad`` (verified, signed by ``peer_id``) does not admit its signer, or None.

        Checked in this order: network name, proof of work, membership proof.
        """
        if ad.network != self.network:
            return WrongNetwork(f"{peer_id} advertises network {ad.network[:64]!r}, this is {self.network!r}")
        if not self.pow.verify(peer_id, ad.pow_nonce):
            return Unadvertised(
                f"{peer_id}'s ad lacks the network's proof of work ({self.pow.difficulty_bits} bits)")
        if self.key is not None:
            expected = membership_proof(self.key, self.network, peer_id)
            if ad.member_proof is None or not hmac.compare_digest(expected, ad.member_proof):
                return NotMember(f"{peer_id} has no valid membership proof for private network {self.network!r}")
        if self.admitters and peer_id not in self.admitters:
            return self.judge_admission(peer_id, ad.admission)
        return None

    def judge_admission(self, peer_id: str, admission: bytes | None) -> NotMember | None:
        """Why ``admission`` does not admit ``peer_id`` here (NotMember), or None when it does."""
        if admission is None:
            return NotMember(f"{peer_id} carries no admission from this network's admitting peers")
        try:
            cert = read_admission(admission)
        except InvalidInput as exc:
            return NotMember(f"{peer_id}'s admission is malformed: {exc}")
        if cert.admitter not in self.admitters:
            return NotMember(f"{peer_id}'s admission is signed by {cert.admitter}, not an admitting peer "
                             f"of network {self.network!r}")
        if not verifies(cert, self.network, peer_id):
            return NotMember(f"{peer_id}'s admission does not verify (altered, or issued to another peer "
                             "or network)")
        if cert.expires_at <= self.now():
            return NotMember(f"{peer_id}'s admission expired at {cert.expires_at} (Unix time); ask an "
                             "admitting peer for a fresh one")
        return None
