"""Typed errors of the wire protocol.

Every failure to frame, decode, authenticate or validate a message raises a
subclass of :class:`ProtocolError`, so a node can catch one type at the edge,
log it and keep serving. Errors raised *after* the signature verified carry
``sender`` (peer ID bytes): the signer is provably responsible, which makes
them usable as trust evidence; forgeries and garbage carry ``sender=None``.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base class: anything wrong with bytes received from (or sent to) a peer."""

    sender: bytes | None

    def __init__(self, message: str, *, sender: bytes | None = None) -> None:
        super().__init__(message)
        self.sender = sender


# --- framing ---------------------------------------------------------------


class FramingError(ProtocolError):
    """The length-prefixed frame could not be read or written."""


class FrameTooLarge(FramingError):
    """A frame (declared or actual) exceeds the configured byte cap."""


class TruncatedFrame(FramingError):
    """The stream ended (or failed) before a whole frame arrived.

    ``received`` counts the bytes of the frame (header included) that did
    arrive; 0 means the peer closed cleanly at a frame boundary.
    """

    received: int

    def __init__(self, message: str, *, received: int = 0) -> None:
        super().__init__(message)
        self.received = received


class FrameTimeout(FramingError):
    """Reading or writing a frame took longer than its deadline."""


class FrameWriteError(FramingError):
    """The underlying stream failed while a frame was being written."""


# --- envelope --------------------------------------------------------------


class EnvelopeError(ProtocolError):
    """The envelope is not a valid, authentic, fresh message for us."""


class MalformedEnvelope(EnvelopeError):
    """Not msgpack, wrong shape or wrong types (also truncated msgpack)."""


class InvalidPublicKey(MalformedEnvelope):
    """``sender_key`` is not a protobuf-encoded Ed25519 public key."""


class InvalidPeerId(ProtocolError):
    """A peer ID string or byte string cannot be decoded."""


class UnsupportedVersion(EnvelopeError):
    """The envelope's version is not one this implementation speaks."""


class UnknownMessageType(EnvelopeError):
    """``msg_type`` names no registered schema."""


class SenderKeyMismatch(EnvelopeError):
    """The peer ID derived from ``sender_key`` differs from ``sender``."""


class BadSignature(EnvelopeError):
    """The Ed25519 signature does not verify over the received payload."""


class PeerMismatch(EnvelopeError):
    """The signer is not the peer the transport authenticated."""


class WrongRecipient(EnvelopeError):
    """The envelope was addressed to someone else (cross-peer replay)."""


class StaleTimestamp(EnvelopeError):
    """The timestamp is outside the accepted clock-skew window."""


class ReplayedNonce(EnvelopeError):
    """The (sender, nonce) pair was already accepted within the window."""


# --- admission ---------------------------------------------------------------


class AdmissionError(ProtocolError):
    """An authentic message from a peer this network does not admit.

    Not a violation by the sender (it may simply belong elsewhere), so it is
    no trust evidence; on a request protocol the receiver answers with a
    refusal whose ``reason`` is the subclass's ``reason``.
    """

    reason = "not_admitted"


class WrongNetwork(AdmissionError):
    """The peer advertises another ``--network`` than the receiver's."""

    reason = "wrong_network"


class NotMember(AdmissionError):
    """The network is private and the peer's ad carries no valid membership proof."""

    reason = "not_member"


class Unadvertised(AdmissionError):
    """No fresh, valid ad of the peer's on this network (with the network's proof of work)."""

    reason = "unadvertised"


ADMISSION_ERRORS: dict[str, type[AdmissionError]] = {
    cls.reason: cls for cls in (WrongNetwork, NotMember, Unadvertised)
}
"""Refusal reason -> the typed error a requester raises for it."""


# --- schema ----------------------------------------------------------------


class SchemaError(ProtocolError):
    """A message body violates its schema (missing field, wrong type, limit)."""

    field: str

    def __init__(self, message: str, *, field: str = "", sender: bytes | None = None) -> None:
        super().__init__(message, sender=sender)
        self.field = field


class UnknownRequiredField(SchemaError):
    """The sender marked a field as required that this version does not know."""
