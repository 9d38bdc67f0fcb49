"""Protocol errors become typed trust evidence once, at the p2p edge, by exception type."""

from __future__ import annotations

import pytest
from peermind.node.p2p.evidence import protocol_evidence
from peermind.node.p2p.streams import UnexpectedMessage
from peermind.protocol import (
    BadSignature,
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
    WrongRecipient,
)
from peermind.trust import (
    Evidence,
    EvidenceEvent,
    InvalidInput,
    TrustParams,
    ViolationKind,
    ViolationSource,
    violation_source,
)

PEER = "12D3KooWDtaXV2cRp8gxRqErs5PGERLzQCiS4hntpNGjfJYNBzKa"


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (BadSignature("signature does not verify"), ViolationKind.BAD_SIGNATURE),
        (SenderKeyMismatch("sender is not ..."), ViolationKind.BAD_SIGNATURE),
        (InvalidPublicKey("not a key"), ViolationKind.BAD_SIGNATURE),  # a MalformedEnvelope, but forgery
        (PeerMismatch("envelope signed by X arrived from Y"), ViolationKind.REPLAY),
        (WrongRecipient("addressed to someone else"), ViolationKind.REPLAY),
        (MalformedEnvelope("outer array is not msgpack"), ViolationKind.SCHEMA),
        (SchemaError("trust must be <= 1"), ViolationKind.SCHEMA),
        (UnexpectedMessage("task.result on the task protocol"), ViolationKind.SCHEMA),
        (ProtocolError("anything else"), ViolationKind.SCHEMA),
        (FrameTooLarge("9 MiB over the limit"), ViolationKind.OVERSIZE),
        (ReplayedNonce("nonce ab already seen"), ViolationKind.REPLAY),
        (StaleTimestamp("timestamp is +40 s off"), ViolationKind.REPLAY),
    ],
)
def test_protocol_errors_map_to_their_sub_kind_by_type(exc: ProtocolError, kind: ViolationKind) -> None:
    event = protocol_evidence(PEER, exc, ViolationSource.REPLY)
    assert event is not None and event.kind is Evidence.PROTOCOL_VIOLATION and event.violation is kind
    record = event.to_record(10.0)
    assert record.subkind == kind.value
    assert violation_source(record) is ViolationSource.REPLY
    assert type(exc).__name__ in record.detail
    assert TrustParams().weight_of(record) == TrustParams().violation_weights[kind.value]


def test_replayed_or_stale_gossip_is_the_relays_doing_not_the_origins() -> None:
    """An honest node under load had its opinions re-delivered late by relays; each counted as a
    replay violation (-4) and two excluded it (bench trust, node-3 about node-0)."""
    for exc in (ReplayedNonce("nonce seen"), StaleTimestamp("60 s old")):
        assert protocol_evidence(PEER, exc, ViolationSource.OPINION) is None
        assert protocol_evidence(PEER, exc, ViolationSource.AD) is None
        direct = protocol_evidence(PEER, exc, ViolationSource.REQUEST)
        assert direct is not None and direct.violation is ViolationKind.REPLAY
    forged = protocol_evidence(PEER, BadSignature("x"), ViolationSource.OPINION)
    assert forged is not None and forged.violation is ViolationKind.BAD_SIGNATURE


def test_message_text_decides_nothing() -> None:
    # a schema error whose text names a forgery class is still a schema error
    event = protocol_evidence(PEER, SchemaError("BadSignature: bad_signature"), ViolationSource.AD)
    assert event is not None and event.violation is ViolationKind.SCHEMA


def test_stalls_are_timeouts_and_broken_streams_are_no_evidence() -> None:
    stalled = protocol_evidence(PEER, FrameTimeout("no frame within 10 s"), ViolationSource.REQUEST)
    assert stalled is not None and stalled.kind is Evidence.TIMEOUT
    broken = protocol_evidence(PEER, TruncatedFrame("ended inside the body", received=100), ViolationSource.REQUEST)
    assert broken is not None and broken.kind is Evidence.TIMEOUT
    # A requester that gave up, or a connection this node closed itself, says nothing bad.
    assert protocol_evidence(PEER, FrameWriteError("stream is reset"), ViolationSource.REQUEST) is None
    assert protocol_evidence(PEER, TruncatedFrame("closed before a frame", received=0), ViolationSource.REQUEST) is None


def test_events_are_checked_and_stored_in_the_replayable_trust_form() -> None:
    event = EvidenceEvent(PEER, Evidence.PROTOCOL_VIOLATION, "MalformedEnvelope: z", ViolationKind.SCHEMA,
                          ViolationSource.OPINION)
    assert event.to_record(1.0).detail == "schema: opinion: MalformedEnvelope: z"
    request = EvidenceEvent(PEER, Evidence.PROTOCOL_VIOLATION, "BadSignature: x", ViolationKind.BAD_SIGNATURE)
    assert request.to_record(1.0).detail == "bad_signature: BadSignature: x"
    assert violation_source(request.to_record(1.0)) is ViolationSource.REQUEST
    pow_ = EvidenceEvent(PEER, Evidence.PROTOCOL_VIOLATION, "nonce 3 lacks 8 bits", ViolationKind.PROOF_OF_WORK,
                         ViolationSource.AD)
    assert violation_source(pow_.to_record(1.0)) is ViolationSource.AD
    for kind in ("task_ok", "timeout", "refusal_busy", "refusal_other", "task_late", "update_outlier"):
        assert EvidenceEvent(PEER, Evidence(kind), "x").to_record(1.0).kind.value == kind
    with pytest.raises(InvalidInput, match="unknown evidence kind"):
        EvidenceEvent(PEER, "slow_and_rude")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        EvidenceEvent("not a peer id!", Evidence.TASK_OK).to_record(1.0)
    with pytest.raises(InvalidInput, match="ViolationKind"):
        EvidenceEvent(PEER, Evidence.PROTOCOL_VIOLATION, "no sub-kind")
    with pytest.raises(InvalidInput, match="ViolationKind"):
        EvidenceEvent(PEER, Evidence.TIMEOUT, "x", ViolationKind.SCHEMA)
