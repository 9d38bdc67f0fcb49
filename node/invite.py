"""Invite tokens: a network, its dial addresses (and secret), signed by the inviter, with an expiry.

``pmi2.<payload>.<signature>`` (base64url without padding). The payload is compact JSON:
``{"v": 2, "n": network, "a": [addrs], "i": inviter peer ID, "x": expires_at (Unix s),
"s": network secret (private networks only)}``; the signature is the inviter's Ed25519
signature over ``"peermind/invite/v1" 0x00 || payload`` with the key its peer ID names.
A joiner checks both before using anything in the token, so a token altered in transit
or past its expiry is refused with a typed one-line error. A token of a private network
carries the secret: hand it over like a password (the expiry bounds when it joins, not
who learned the secret; rotate ``network_secret`` to shut former members out).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from peermind.protocol import InvalidPeerId, Signer, peer_id_from_b58

from .errors import ConfigError

__all__ = ["DEFAULT_TTL_S", "MAX_TTL_S", "PREFIX", "Invite", "InviteDamaged", "InviteError",
           "InviteExpired", "InviteForged", "make_invite", "read_invite"]

PREFIX = "pmi2."
OLD_PREFIX = "pmi1."
DEFAULT_TTL_S = 24 * 3600.0
MAX_TTL_S = 30 * 24 * 3600.0
_DOMAIN = b"peermind/invite/v1\x00"
_ED25519_PEER_ID = b"\x00\x24\x08\x01\x12\x20"  # identity multihash of a protobuf Ed25519 key


class InviteError(ConfigError):
    """An invite token that cannot be used to join."""


class InviteDamaged(InviteError):
    """Not a (complete) peermind invite token."""


class InviteForged(InviteError):
    """The signature does not verify: the token was altered or not made by its inviter."""


class InviteExpired(InviteError):
    """The token's expiry has passed."""


@dataclass(frozen=True)
class Invite:
    """What a join token carries: the network, addresses to dial and (private networks) the secret."""

    network: str
    addrs: list[str]
    inviter: str
    expires_at: float
    secret: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_invite(signer: Signer, network: str, addrs: list[str], *, ttl_s: float = DEFAULT_TTL_S,
                secret: str | None = None, now: float | None = None) -> str:
    """A token for ``network`` at ``addrs``, signed by ``signer`` (the inviting node's key)."""
    if not 0 < ttl_s <= MAX_TTL_S:
        raise ConfigError(f"invite lifetime must be in (0, {MAX_TTL_S / 3600:g} h], got {ttl_s / 3600:g} h")
    issued = time.time() if now is None else now
    data: dict[str, object] = {"v": 2, "n": network, "a": list(addrs), "i": signer.peer_id_b58,
                               "x": int(issued + ttl_s)}
    if secret:
        data["s"] = secret
    payload = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return f"{PREFIX}{_b64(payload)}.{_b64(signer.sign(_DOMAIN + payload))}"


def read_invite(token: str, *, now: float | None = None) -> Invite:
    """The verified invite; ``InviteDamaged`` / ``InviteForged`` / ``InviteExpired`` otherwise."""
    token = token.strip()
    if token.startswith(OLD_PREFIX):
        raise InviteDamaged("--join: this is an old unsigned invite token; ask for a fresh one (`peermind invite`)")
    if not token.startswith(PREFIX):
        raise InviteDamaged(f"--join: not a peermind invite token (expected it to start with {PREFIX!r})")
    try:
        payload_text, signature_text = token[len(PREFIX):].split(".")
        payload, signature = _unb64(payload_text), _unb64(signature_text)
        data = json.loads(payload)
        invite = Invite(network=data["n"], addrs=data["a"], inviter=data["i"],
                        expires_at=float(data["x"]), secret=data.get("s"))
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise InviteDamaged(f"--join: the invite token is damaged ({type(exc).__name__}); ask for a fresh one") from exc
    if (not isinstance(invite.network, str) or not isinstance(invite.addrs, list)
            or not all(isinstance(a, str) for a in invite.addrs) or not isinstance(invite.inviter, str)
            or not (invite.secret is None or isinstance(invite.secret, str))):
        raise InviteDamaged("--join: the invite token has the wrong shape; ask for a fresh one")
    _verify(invite.inviter, payload, signature)
    if (time.time() if now is None else now) > invite.expires_at:
        expired = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(invite.expires_at))
        raise InviteExpired(f"--join: the invite token expired at {expired}; ask {invite.inviter[:16]}... for a fresh one")
    return invite


def _verify(inviter: str, payload: bytes, signature: bytes) -> None:
    try:
        peer_id = peer_id_from_b58(inviter)
    except (InvalidPeerId, ValueError) as exc:
        raise InviteDamaged("--join: the invite token names no valid inviter; ask for a fresh one") from exc
    if len(peer_id) != 38 or not peer_id.startswith(_ED25519_PEER_ID):
        raise InviteDamaged("--join: the invite token's inviter is not an Ed25519 peer ID; ask for a fresh one")
    try:
        Ed25519PublicKey.from_public_bytes(peer_id[6:]).verify(signature, _DOMAIN + payload)
    except (InvalidSignature, ValueError) as exc:
        raise InviteForged("--join: the invite token's signature does not verify (altered, or not made by "
                           f"{inviter[:16]}...); do not use it") from exc
