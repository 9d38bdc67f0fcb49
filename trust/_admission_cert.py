"""Admissions: a network's admitting peers sign which peer IDs are members, until when.

The other way to make a network private (beside a shared secret): the network lists the
peer IDs of its admitters (``network_admitters``), and a node is a member when its ad
carries an admission one of them signed for its own peer ID and this network, not yet
expired. Nothing secret travels, an admission seen in a gossiped ad admits nobody else
(it names its member), and an admitter removed from the list stops admitting anyone.

Wire form (108 bytes, in the ad's ``admission`` field, SPEC 7.1/9.1):
``b"pma1" || uint64be(expires_at) || admitter's raw Ed25519 public key (32) || signature
(64)`` where the signature covers ``"peermind/admission/v1" || 0x00 || network || 0x00
|| member_peer_id_b58 || 0x00 || uint64be(expires_at)``. As text (what ``peermind admit``
prints and ``network_admission`` holds): ``pma1.`` + base64url of those bytes.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from peermind.protocol import Signer, peer_id_from_public_key, peer_id_to_b58

from ._errors import InvalidInput

__all__ = ["ADMISSION_BYTES", "Admission", "admission_from_text", "admission_to_text", "issue_admission",
           "read_admission"]

_MAGIC = b"pma1"
_DOMAIN = b"peermind/admission/v1\x00"
_KEY_PROTO_PREFIX = b"\x08\x01\x12\x20"
TEXT_PREFIX = "pma1."
ADMISSION_BYTES = len(_MAGIC) + 8 + 32 + 64
MAX_EXPIRES_AT = 2**63 - 1


@dataclass(frozen=True)
class Admission:
    """A decoded admission: who signed it and until when (its signature still to be checked)."""

    admitter: str
    expires_at: int
    public_key: bytes
    signature: bytes


def _signed_bytes(network: str, member: str, expires_at: int) -> bytes:
    return _DOMAIN + network.encode() + b"\x00" + member.encode() + b"\x00" + expires_at.to_bytes(8, "big")


def issue_admission(signer: Signer, network: str, member: str, expires_at: int) -> bytes:
    """The admission ``signer`` (an admitter) gives ``member`` on ``network`` until ``expires_at``."""
    if not 0 < expires_at <= MAX_EXPIRES_AT:
        raise InvalidInput(f"an admission expires at a Unix time in (0, 2**63), got {expires_at}")
    signature = signer.sign(_signed_bytes(network, member, expires_at))
    return _MAGIC + expires_at.to_bytes(8, "big") + signer.public_key_raw + signature


def read_admission(data: bytes) -> Admission:
    """Decode the wire form (InvalidInput when it is not one); the signature is checked by ``verifies``."""
    if len(data) != ADMISSION_BYTES or not data.startswith(_MAGIC):
        raise InvalidInput(f"an admission has {ADMISSION_BYTES} bytes starting {_MAGIC!r}, got {len(data)} bytes")
    expires_at = int.from_bytes(data[4:12], "big")
    public_key = data[12:44]
    return Admission(peer_id_to_b58(peer_id_from_public_key(_KEY_PROTO_PREFIX + public_key)),
                     expires_at, public_key, data[44:])


def verifies(admission: Admission, network: str, member: str) -> bool:
    """Whether the admitter's key signed this admission of ``member`` on ``network``."""
    try:
        Ed25519PublicKey.from_public_bytes(admission.public_key).verify(
            admission.signature, _signed_bytes(network, member, admission.expires_at))
    except (InvalidSignature, ValueError):
        return False
    return True


def admission_to_text(data: bytes) -> str:
    """The ``pma1.`` text of an admission: what ``peermind admit`` prints and a config holds."""
    return TEXT_PREFIX + base64.urlsafe_b64encode(data).decode().rstrip("=")


def admission_from_text(text: str) -> bytes:
    """The wire form of a ``pma1.`` text (InvalidInput when damaged)."""
    text = text.strip()
    if not text.startswith(TEXT_PREFIX):
        raise InvalidInput(f"an admission starts with {TEXT_PREFIX!r} (from `peermind admit`)")
    body = text[len(TEXT_PREFIX):]
    try:
        data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("the admission is damaged (not base64url); ask its admitter for a fresh one") from exc
    read_admission(data)
    return data
