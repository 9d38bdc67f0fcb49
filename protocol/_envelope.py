"""Signed envelopes: ``seal`` on the way out, ``Verifier.open`` on the way in.

Wire bytes are ``msgpack [payload: bin, signature: bin(64)]`` where
``payload = msgpack [version, msg_type, sender, sender_key, recipient,
timestamp_ms, nonce, body]`` and the signature is Ed25519 over
``ENVELOPE_DOMAIN + payload``. The verifier checks the cheap structural
things first, authenticates the payload bytes exactly as received, and only
then decodes and validates the body, so unauthenticated input never reaches
the schema code (see SPEC.md for the full order).
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ._codec import canonicalize, decode_body, is_map_header, pack
from ._errors import (
    BadSignature,
    FrameTooLarge,
    MalformedEnvelope,
    PeerMismatch,
    ReplayedNonce,
    SchemaError,
    SenderKeyMismatch,
    StaleTimestamp,
    UnknownMessageType,
    UnsupportedVersion,
    WrongRecipient,
)
from ._identity import Signer, load_public_key, peer_id_from_public_key, peer_id_to_b58
from ._replay import ReplayCache
from ._schema import Message, message_types

PROTOCOL_VERSION = 1
ENVELOPE_DOMAIN = b"peermind/envelope/v1\x00"
"""Prefix of every signing input, so an envelope signature can never be
confused with a signature the same key makes elsewhere (libp2p, gossipsub)."""

DEFAULT_MAX_FRAME = 4 * 1024 * 1024
NONCE_LEN = 16
SIGNATURE_LEN = 64
MAX_MSG_TYPE_LEN = 64
MAX_RECIPIENT_LEN = 256
MAX_SENDER_LEN = 128
PAYLOAD_FIELDS = 8
KEY_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Envelope:
    """An authenticated, fresh, schema-valid message and who sent it."""

    version: int
    msg_type: str
    sender: bytes
    """libp2p peer ID bytes of the signer."""
    sender_key: bytes
    """Protobuf-encoded Ed25519 public key of the signer."""
    recipient: str
    """Peer ID (base58) or topic the sender addressed; "" for none."""
    timestamp_ms: int
    nonce: bytes
    body: Message
    raw_size: int
    """Size of the wire bytes, for accounting and limits."""

    @property
    def sender_b58(self) -> str:
        return peer_id_to_b58(self.sender)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def seal(
    signer: Signer,
    body: Message,
    recipient: str = "",
    *,
    now_ms: int | None = None,
    nonce: bytes | None = None,
) -> bytes:
    """Sign ``body`` as ``signer`` and return the envelope's wire bytes.

    ``now_ms`` and ``nonce`` exist for reproducible tests and test vectors;
    leave them unset in production (current time, 16 random bytes).
    """
    if not isinstance(body, Message) or not body.TYPE:
        raise TypeError(
            f"seal() needs a top-level message (a Message with a TYPE), got {type(body).__name__}"
        )
    return seal_body(signer, body.TYPE, body.to_body(), recipient, now_ms=now_ms, nonce=nonce)


def seal_body(
    signer: Signer,
    msg_type: str,
    body: dict[str, Any],
    recipient: str = "",
    *,
    now_ms: int | None = None,
    nonce: bytes | None = None,
    canonical: bool = False,
) -> bytes:
    """Sign a raw body map (no schema check).

    For forward-compatibility tests and tools that relay bodies of types
    this version does not know; ``canonical=True`` sorts the map keys.
    """
    if nonce is None:
        nonce = os.urandom(NONCE_LEN)
    elif len(nonce) != NONCE_LEN:
        raise ValueError(f"nonce must have {NONCE_LEN} bytes, got {len(nonce)}")
    if len(recipient.encode("utf-8")) > MAX_RECIPIENT_LEN:
        raise ValueError(f"recipient must have <= {MAX_RECIPIENT_LEN} UTF-8 bytes")
    if canonical:
        body = canonicalize(body)
    payload = pack(
        [
            PROTOCOL_VERSION,
            msg_type,
            signer.peer_id,
            signer.public_key_proto,
            recipient,
            _now_ms() if now_ms is None else now_ms,
            bytes(nonce),
            body,
        ]
    )
    return pack([payload, signer.sign(ENVELOPE_DOMAIN + payload)])


@dataclass(frozen=True, slots=True)
class _Header:
    version: int
    msg_type: str
    sender: bytes
    sender_key: bytes
    recipient: str
    timestamp_ms: int
    nonce: bytes
    body_offset: int


def _malformed(problem: str) -> MalformedEnvelope:
    return MalformedEnvelope(f"malformed envelope: {problem}")


def _split_wire(data: bytes) -> tuple[bytes, bytes]:
    """``[payload: bin, signature: bin(64)]`` -> (payload, signature)."""
    try:
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(data), 1))
        unpacker.feed(data)
        n = unpacker.read_array_header()
        if n != 2:
            raise _malformed(f"expected a 2-element array [payload, signature], got {n}")
        payload = unpacker.unpack()
        signature = unpacker.unpack()
        end = unpacker.tell()
    except MalformedEnvelope:
        raise
    except Exception as exc:  # msgpack raises ValueError subclasses, OutOfData, ...
        raise _malformed(f"outer array is not valid msgpack ({type(exc).__name__})") from exc
    if type(payload) is not bytes:
        raise _malformed("payload must be msgpack bin")
    if type(signature) is not bytes or len(signature) != SIGNATURE_LEN:
        raise _malformed(f"signature must be a {SIGNATURE_LEN}-byte bin")
    if end != len(data):
        raise _malformed(f"{len(data) - end} trailing bytes after the envelope")
    return payload, signature


def _parse_header(payload: bytes) -> _Header:
    """Decode the seven header fields and locate (but do not decode) the body."""
    try:
        unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(payload), 1))
        unpacker.feed(payload)
        n = unpacker.read_array_header()
        version = unpacker.unpack() if n >= 1 else None
        if type(version) is not int:
            raise _malformed("payload must be an array starting with an integer version")
        if version != PROTOCOL_VERSION:
            raise UnsupportedVersion(
                f"envelope version {version} is not supported (this peer speaks "
                f"{PROTOCOL_VERSION}); upgrade the older side"
            )
        if n != PAYLOAD_FIELDS:
            raise _malformed(f"payload must have {PAYLOAD_FIELDS} fields, got {n}")
        msg_type = unpacker.unpack()
        sender = unpacker.unpack()
        sender_key = unpacker.unpack()
        recipient = unpacker.unpack()
        timestamp_ms = unpacker.unpack()
        nonce = unpacker.unpack()
        body_offset = unpacker.tell()
        if body_offset >= len(payload) or not is_map_header(payload[body_offset]):
            raise _malformed("body must be a msgpack map")
        unpacker.skip()  # structural check of the body without building objects
        end = unpacker.tell()
    except (MalformedEnvelope, UnsupportedVersion):
        raise
    except Exception as exc:
        raise _malformed(f"payload is not valid msgpack ({type(exc).__name__})") from exc
    if end != len(payload):
        raise _malformed(f"{len(payload) - end} trailing bytes after the payload")
    if type(msg_type) is not str or not msg_type or len(msg_type) > MAX_MSG_TYPE_LEN:
        raise _malformed(f"msg_type must be a string of 1..{MAX_MSG_TYPE_LEN} chars")
    if type(sender) is not bytes or not sender or len(sender) > MAX_SENDER_LEN:
        raise _malformed(f"sender must be a bin of 1..{MAX_SENDER_LEN} bytes")
    if type(sender_key) is not bytes or not sender_key or len(sender_key) > MAX_SENDER_LEN:
        raise _malformed(f"sender_key must be a bin of 1..{MAX_SENDER_LEN} bytes")
    if type(recipient) is not str or len(recipient.encode("utf-8")) > MAX_RECIPIENT_LEN:
        raise _malformed(f"recipient must be a string of <= {MAX_RECIPIENT_LEN} UTF-8 bytes")
    if type(timestamp_ms) is not int:
        raise _malformed("timestamp_ms must be an integer")
    if type(nonce) is not bytes or len(nonce) != NONCE_LEN:
        raise _malformed(f"nonce must be a {NONCE_LEN}-byte bin")
    return _Header(
        version, msg_type, sender, sender_key, recipient, timestamp_ms, nonce, body_offset
    )


class Verifier:
    """Authenticates incoming envelopes; holds the replay cache (one per node).

    Not thread-safe: use it from the trio thread that reads the streams.
    """

    def __init__(
        self,
        max_skew_s: float = 30.0,
        replay_capacity: int = 100_000,
        max_frame_bytes: int = DEFAULT_MAX_FRAME,
    ) -> None:
        if max_skew_s <= 0:
            raise ValueError("max_skew_s must be > 0")
        self.max_skew_ms = int(max_skew_s * 1000)
        self.max_frame_bytes = max_frame_bytes
        self._replay = ReplayCache(window_ms=self.max_skew_ms, capacity=replay_capacity)
        self._keys: OrderedDict[bytes, Ed25519PublicKey] = OrderedDict()

    def open(
        self,
        data: bytes,
        *,
        expected_sender: bytes | None = None,
        expected_recipient: str | None = None,
        now_ms: int | None = None,
    ) -> Envelope:
        """Verify wire bytes and return the typed envelope, or raise a ProtocolError.

        ``expected_sender`` is the Noise-authenticated peer of the stream;
        ``expected_recipient`` (our own peer ID b58, or a topic) stops an
        envelope meant for another peer being replayed to us.
        """
        if len(data) > self.max_frame_bytes:
            raise FrameTooLarge(
                f"envelope of {len(data)} bytes exceeds the {self.max_frame_bytes}-byte limit"
            )
        payload, signature = _split_wire(data)
        head = _parse_header(payload)
        cls = message_types.get(head.msg_type)
        if cls is None:
            raise UnknownMessageType(
                f"unknown message type {head.msg_type[:64]!r}; known: {sorted(message_types)}"
            )
        if peer_id_from_public_key(head.sender_key) != head.sender:
            raise SenderKeyMismatch("sender is not the peer ID of sender_key")
        self._verify_signature(head.sender_key, signature, payload)
        sender = head.sender  # authenticated from here on: errors name the sender
        if expected_sender is not None and expected_sender != sender:
            raise PeerMismatch(
                f"envelope signed by {peer_id_to_b58(sender)} arrived on a stream from "
                f"{_b58_or_hex(expected_sender)}",
                sender=sender,
            )
        if expected_recipient is not None and head.recipient != expected_recipient:
            raise WrongRecipient(
                f"envelope addressed to {head.recipient[:128]!r}, not {expected_recipient!r}",
                sender=sender,
            )
        now = _now_ms() if now_ms is None else now_ms
        skew = now - head.timestamp_ms
        if abs(skew) > self.max_skew_ms:
            raise StaleTimestamp(
                f"timestamp is {skew / 1000:+.1f} s off our clock (limit "
                f"{self.max_skew_ms / 1000:.1f} s); check both clocks (NTP)",
                sender=sender,
            )
        if head.timestamp_ms <= self._replay.floor(sender):
            raise ReplayedNonce("timestamp at or below this sender's replay floor (a message older than "
                                "one already forgotten, or from before this node restarted)", sender=sender)
        if not self._replay.add((sender, head.nonce), head.timestamp_ms, now):
            raise ReplayedNonce(f"nonce {head.nonce.hex()} already seen from this sender",
                                sender=sender)
        try:
            raw_body = decode_body(memoryview(payload)[head.body_offset :])
        except Exception as exc:
            raise MalformedEnvelope(
                f"malformed envelope body: {exc}", sender=sender
            ) from exc
        try:
            body = cls.from_body(raw_body)
        except SchemaError as exc:
            exc.sender = sender
            raise
        return Envelope(
            version=head.version,
            msg_type=head.msg_type,
            sender=sender,
            sender_key=head.sender_key,
            recipient=head.recipient,
            timestamp_ms=head.timestamp_ms,
            nonce=head.nonce,
            body=body,
            raw_size=len(data),
        )

    def _verify_signature(self, sender_key: bytes, signature: bytes, payload: bytes) -> None:
        keys = self._keys
        key = keys.get(sender_key)
        if key is None:
            key = load_public_key(sender_key)
            keys[sender_key] = key
            if len(keys) > KEY_CACHE_SIZE:
                keys.popitem(last=False)
        else:
            keys.move_to_end(sender_key)
        try:
            key.verify(signature, ENVELOPE_DOMAIN + payload)
        except (InvalidSignature, ValueError, TypeError) as exc:
            raise BadSignature(
                "signature does not verify over the payload (tampered or wrong key)"
            ) from exc

    def restore_replay_floor(self, sender: bytes, timestamp_ms: int) -> None:
        """Refuse ``sender``'s envelopes at or below ``timestamp_ms`` (its last one before a restart)."""
        self._replay.restore_floor(sender, timestamp_ms)

    def take_replay_highs(self) -> dict[bytes, int]:
        """Highest accepted timestamp per sender since the last call, to persist (the first call starts it)."""
        return self._replay.take_highs()

    @property
    def replay_entries(self) -> int:
        """Number of remembered nonces (for metrics)."""
        return len(self._replay)


def _b58_or_hex(peer_id: bytes) -> str:
    try:
        return peer_id_to_b58(peer_id)
    except Exception:
        return peer_id.hex()
