"""Translate what the node observes into the trust package's typed evidence.

The node's modules report evidence as ``(peer, kind, detail)`` strings (streams, ads,
collaboration, training). Their kinds already are ``Evidence`` values; a protocol
violation's detail starts with the exception class (``"BadSignature: ..."``,
``"reply: SchemaError: ..."``, ``"ad: ReplayedNonce: ..."``), which is mapped here to the
``ViolationKind`` the trust package weighs. The mapping is idempotent, so rows already
stored in trust form replay unchanged.
"""

from __future__ import annotations

import re
import time

from peermind.trust import Evidence, EvidenceRecord, InvalidInput, ViolationKind

__all__ = ["VIOLATION_CLASSES", "to_record", "violation_kind", "violation_source"]

VIOLATION_CLASSES: dict[str, ViolationKind] = {
    # The signature does not verify, or the key does not match: forgery.
    "BadSignature": ViolationKind.BAD_SIGNATURE,
    "SenderKeyMismatch": ViolationKind.BAD_SIGNATURE,
    "InvalidPublicKey": ViolationKind.BAD_SIGNATURE,
    # A validly signed message out of place: replayed, relayed, or re-addressed.
    "ReplayedNonce": ViolationKind.REPLAY,
    "StaleTimestamp": ViolationKind.REPLAY,
    "PeerMismatch": ViolationKind.REPLAY,
    "WrongRecipient": ViolationKind.REPLAY,
    # Bytes that are not a valid message (may be version skew).
    "MalformedEnvelope": ViolationKind.SCHEMA,
    "EnvelopeError": ViolationKind.SCHEMA,
    "UnknownMessageType": ViolationKind.SCHEMA,
    "UnsupportedVersion": ViolationKind.SCHEMA,
    "SchemaError": ViolationKind.SCHEMA,
    "UnknownRequiredField": ViolationKind.SCHEMA,
    "UnexpectedMessage": ViolationKind.SCHEMA,
    "FrameTooLarge": ViolationKind.OVERSIZE,
}

# A stream that stalls or breaks off inside a frame is a slow, dead or broken peer (weak
# timeout evidence), not a forger.
_TIMEOUT_CLASSES = frozenset({"FrameTimeout", "TruncatedFrame"})
# A stream reset while we write, or closed before a frame started, says nothing about the
# peer: the requester gave up (its deadline passed) or the connection closed (maybe by us).
_NOT_EVIDENCE = frozenset({"FrameWriteError"})
_CLEAN_CLOSE = "before a frame started"
_BACK_PRESSURE = re.compile(r"refused the task \((?:busy|deadline|rate_limited)\)")
_SUBKINDS = frozenset(v.value for v in ViolationKind)
_WHERE = re.compile(r"^(?:reply|ad|opinion|request):\s*")
_CLASS = re.compile(r"^([A-Z][A-Za-z0-9_]*)\s*:")


def _class_of(detail: str) -> str:
    match = _CLASS.match(_WHERE.sub("", detail.strip()))
    return match.group(1) if match else ""


def violation_kind(detail: str) -> ViolationKind | None:
    """The sub-kind a protocol-violation detail names, or None for a stall (FrameTimeout)."""
    text = _WHERE.sub("", detail.strip())
    head = text.split(":", 1)[0].strip()
    if head in _SUBKINDS:
        return ViolationKind(head)
    match = _CLASS.match(text)
    name = match.group(1) if match else ""
    if name in _TIMEOUT_CLASSES:
        return None
    # Anything else malformed ("non-ad message on the ads topic", unknown classes) is schema.
    return VIOLATION_CLASSES.get(name, ViolationKind.SCHEMA)


def violation_source(detail: str) -> str:
    """Where a violation was seen: ``reply``, ``ad``, ``opinion``, or an inbound ``request``."""
    if detail.startswith("pow:"):
        return "ad"
    after_kind = detail.split(":", 1)[1].strip() if detail.split(":", 1)[0].strip() in _SUBKINDS else detail
    match = _WHERE.match(after_kind.strip())
    return match.group(0).rstrip(": \t") if match else "request"


def to_record(peer: str, kind: str, detail: str, at: float | None = None) -> EvidenceRecord | None:
    """The trust record for one observation (None: not evidence about the peer).

    Raises InvalidInput for a bad peer ID or an unknown kind.
    """
    when = time.time() if at is None else at
    try:
        evidence = Evidence(kind)
    except ValueError:
        known = ", ".join(k.value for k in Evidence)
        raise InvalidInput(f"unknown evidence kind {kind!r}; use one of: {known}") from None
    if evidence is Evidence.REFUSAL_OTHER and _BACK_PRESSURE.search(detail):
        # "deadline" and "rate_limited" refusals are honest back-pressure, like "busy"
        return EvidenceRecord(peer, Evidence.REFUSAL_BUSY, at=when, detail=detail)
    if evidence is Evidence.PROTOCOL_VIOLATION:
        cls = _class_of(detail)
        if cls in _NOT_EVIDENCE or (cls == "TruncatedFrame" and _CLEAN_CLOSE in detail):
            return None
        sub = violation_kind(detail)
        if sub is None:
            return EvidenceRecord(peer, Evidence.TIMEOUT, at=when, detail=detail)
        if not detail.strip().startswith(sub.value):
            detail = f"{sub.value}: {detail}"
    return EvidenceRecord(peer, evidence, at=when, detail=detail)
