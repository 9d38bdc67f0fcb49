"""Peer identity: Ed25519 keys, libp2p key encoding and peer IDs.

We sign with ``cryptography`` directly (OpenSSL, fast) but encode keys and
derive peer IDs byte-for-byte as libp2p does, so the peer ID inside an
envelope is the same one Noise authenticates on the stream.

libp2p encodes an Ed25519 public key as the protobuf message
``PublicKey{Type=1 (Ed25519), Data=<32 bytes>}`` which serialises to the
fixed prefix ``08 01 12 20`` followed by the raw key. Keys of 42 bytes or less
are "inlined" into the peer ID with the identity multihash (code 0x00), so an
Ed25519 peer ID is ``00 24`` + the 36-byte protobuf key (base58: ``12D3KooW...``).
"""

from __future__ import annotations

import base58
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ._errors import InvalidPeerId, InvalidPublicKey

ED25519_KEY_PROTO_PREFIX = b"\x08\x01\x12\x20"
"""protobuf: field 1 (KeyType) varint 1 = Ed25519; field 2 (Data) length 32."""

IDENTITY_MULTIHASH_PREFIX = b"\x00\x24"
"""multihash code 0x00 (identity), digest length 0x24 = 36 bytes."""

PUBLIC_KEY_PROTO_LEN = len(ED25519_KEY_PROTO_PREFIX) + 32
PEER_ID_LEN = len(IDENTITY_MULTIHASH_PREFIX) + PUBLIC_KEY_PROTO_LEN
MAX_PEER_ID_B58_LEN = 128


def encode_public_key(raw: bytes) -> bytes:
    """Protobuf-encode a raw 32-byte Ed25519 public key the way libp2p does."""
    if len(raw) != 32:
        raise InvalidPublicKey(f"an Ed25519 public key has 32 bytes, got {len(raw)}")
    return ED25519_KEY_PROTO_PREFIX + raw


def raw_public_key(public_key_proto: bytes) -> bytes:
    """Return the 32 raw key bytes of a protobuf-encoded Ed25519 public key."""
    if (
        len(public_key_proto) != PUBLIC_KEY_PROTO_LEN
        or public_key_proto[:4] != ED25519_KEY_PROTO_PREFIX
    ):
        raise InvalidPublicKey(
            "expected a libp2p protobuf Ed25519 public key (08 01 12 20 + 32 bytes), "
            f"got {len(public_key_proto)} bytes starting {public_key_proto[:4].hex()!r}"
        )
    return public_key_proto[4:]


def peer_id_from_public_key(public_key_proto: bytes) -> bytes:
    """libp2p peer ID (identity multihash) of a protobuf-encoded Ed25519 key."""
    raw_public_key(public_key_proto)  # validates the encoding
    return IDENTITY_MULTIHASH_PREFIX + public_key_proto


def peer_id_to_b58(peer_id: bytes) -> str:
    """Base58btc text form of a peer ID (``12D3KooW...`` for Ed25519)."""
    if not peer_id:
        raise InvalidPeerId("a peer ID cannot be empty")
    return base58.b58encode(peer_id).decode("ascii")


def peer_id_from_b58(text: str) -> bytes:
    """Decode a base58btc peer ID string into its bytes."""
    if not text or len(text) > MAX_PEER_ID_B58_LEN:
        raise InvalidPeerId(
            f"a peer ID string has 1..{MAX_PEER_ID_B58_LEN} characters, got {len(text)}"
        )
    try:
        return base58.b58decode(text)
    except ValueError as exc:
        raise InvalidPeerId(f"{text!r} is not base58btc: {exc}") from exc


class Signer:
    """Signs with one Ed25519 identity and knows its libp2p peer ID.

    Build it from the node's libp2p identity (``Signer.from_libp2p(host key)``)
    so envelopes are signed by the same key Noise authenticates.
    """

    __slots__ = ("_key", "public_key_raw", "public_key_proto", "peer_id", "peer_id_b58")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError(
                "Signer needs a cryptography Ed25519PrivateKey; "
                "use Signer.from_libp2p() for a libp2p key"
            )
        self._key = private_key
        self.public_key_raw: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_key_proto: bytes = encode_public_key(self.public_key_raw)
        self.peer_id: bytes = peer_id_from_public_key(self.public_key_proto)
        self.peer_id_b58: str = peer_id_to_b58(self.peer_id)

    @classmethod
    def generate(cls) -> Signer:
        """A fresh random identity."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Signer:
        """Deterministic identity from a 32-byte Ed25519 seed (RFC 8032 private key)."""
        if len(seed) != 32:
            raise ValueError(f"an Ed25519 seed has 32 bytes, got {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_libp2p(cls, private_key: object) -> Signer:
        """Wrap a libp2p ``Ed25519PrivateKey`` (or a ``KeyPair``) without importing libp2p.

        libp2p's ``to_bytes()`` is PyNaCl's 64-byte seed||public form (or the
        32-byte seed); the first 32 bytes are the seed.
        """
        key = getattr(private_key, "private_key", private_key)  # accept a KeyPair
        to_bytes = getattr(key, "to_bytes", None)
        if to_bytes is None:
            raise TypeError(f"expected a libp2p Ed25519 private key, got {type(key).__name__}")
        raw = to_bytes()
        if len(raw) not in (32, 64):
            raise ValueError(f"not an Ed25519 private key: {len(raw)} bytes")
        return cls.from_seed(raw[:32])

    def sign(self, data: bytes) -> bytes:
        """Raw Ed25519 signature (64 bytes) over ``data``; no domain prefix added."""
        return self._key.sign(data)

    def __repr__(self) -> str:
        return f"Signer({self.peer_id_b58})"


def load_public_key(public_key_proto: bytes) -> Ed25519PublicKey:
    """A cryptography public key object from a protobuf-encoded Ed25519 key."""
    try:
        return Ed25519PublicKey.from_public_bytes(raw_public_key(public_key_proto))
    except ValueError as exc:  # not a valid curve point
        raise InvalidPublicKey(f"sender_key is not a usable Ed25519 key: {exc}") from exc
