"""Protocol errors become trust evidence here, once, by one table keyed on exception types.

Every place the node reads a peer's bytes (inbound requests, replies to our calls, ads,
opinions) hands the ``ProtocolError`` it caught to ``protocol_evidence``, which looks the
exception's class (or its nearest listed base) up in ``VIOLATIONS``. Nothing is decided
from message text.

- A forged or mis-keyed signature is ``bad_signature``; a validly signed message out of
  place (replayed, relayed, re-addressed, stale) is ``replay``; bytes that are no valid
  message are ``schema`` (may be version skew); an announced frame over the cap is
  ``oversize``. Any other ``ProtocolError`` counts as ``schema``.
- A stream that stalls or breaks off inside a frame is a slow, dead or broken peer: weak
  ``timeout`` evidence, not forgery.
- A stream reset while we write, or closed before a frame started, says nothing about the
  peer (the requester gave up, or the connection closed, maybe by us): no evidence.
- A replayed or stale gossip message (ad, opinion) was re-delivered by relays (two mesh
  paths, a slow or restarted peer's mesh catching up): dropped, not the origin's fault.
  On a direct stream the same errors are the sender's own doing: replay.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from peermind.protocol import (
    BadSignature,
    EnvelopeError,
    FrameTimeout,
    FrameTooLarge,
    FrameWriteError,
    InvalidPublicKey,
    MalformedEnvelope,
    PeerMismatch,
    ProtocolError,
    ReplayedNonce,
    SchemaError,
    SenderKeyMismatch,
    StaleTimestamp,
    TruncatedFrame,
    UnknownMessageType,
    UnsupportedVersion,
    WrongRecipient,
)
from peermind.trust import Evidence, EvidenceEvent, ViolationKind, ViolationSource

__all__ = ["STALLS", "VIOLATIONS", "protocol_evidence"]

VIOLATIONS: Mapping[type[ProtocolError], ViolationKind] = MappingProxyType({
    BadSignature: ViolationKind.BAD_SIGNATURE,
    SenderKeyMismatch: ViolationKind.BAD_SIGNATURE,
    InvalidPublicKey: ViolationKind.BAD_SIGNATURE,
    ReplayedNonce: ViolationKind.REPLAY,
    StaleTimestamp: ViolationKind.REPLAY,
    PeerMismatch: ViolationKind.REPLAY,
    WrongRecipient: ViolationKind.REPLAY,
    MalformedEnvelope: ViolationKind.SCHEMA,
    EnvelopeError: ViolationKind.SCHEMA,
    UnknownMessageType: ViolationKind.SCHEMA,
    UnsupportedVersion: ViolationKind.SCHEMA,
    SchemaError: ViolationKind.SCHEMA,
    FrameTooLarge: ViolationKind.OVERSIZE,
})
"""Protocol error class -> the violation it proves (the nearest listed base class decides)."""

STALLS: tuple[type[ProtocolError], ...] = (FrameTimeout, TruncatedFrame)
"""Errors that are timeout evidence (a TruncatedFrame with nothing received is none at all)."""
NOT_EVIDENCE: tuple[type[ProtocolError], ...] = (FrameWriteError,)
RELAYED_AGAIN: tuple[type[ProtocolError], ...] = (ReplayedNonce, StaleTimestamp)
"""Not evidence when seen on gossip (GOSSIP sources): relays re-deliver old messages."""
GOSSIP = frozenset({ViolationSource.AD, ViolationSource.OPINION})


def _violation_of(exc: ProtocolError) -> ViolationKind:
    for cls in type(exc).__mro__:
        kind = VIOLATIONS.get(cls)  # type: ignore[call-overload]
        if kind is not None:
            return kind
    return ViolationKind.SCHEMA


def protocol_evidence(peer: str, exc: ProtocolError, source: ViolationSource) -> EvidenceEvent | None:
    """The evidence ``exc`` (raised by ``peer``'s bytes, seen at ``source``) is, or None."""
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, NOT_EVIDENCE) or (isinstance(exc, TruncatedFrame) and exc.received == 0):
        return None
    if source in GOSSIP and isinstance(exc, RELAYED_AGAIN):
        return None
    if isinstance(exc, STALLS):
        return EvidenceEvent(peer, Evidence.TIMEOUT, detail)
    return EvidenceEvent(peer, Evidence.PROTOCOL_VIOLATION, detail, _violation_of(exc), source)
