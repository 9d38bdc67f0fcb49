"""The node's evidence strings become the trust package's typed records."""

from __future__ import annotations

import pytest
from peermind.node.trust_wiring import to_record, violation_kind, violation_source
from peermind.trust import Evidence, InvalidInput, TrustParams, ViolationKind

PEER = "12D3KooWDtaXV2cRp8gxRqErs5PGERLzQCiS4hntpNGjfJYNBzKa"


@pytest.mark.parametrize(
    ("detail", "kind"),
    [
        ("BadSignature: signature does not verify", ViolationKind.BAD_SIGNATURE),
        ("reply: SenderKeyMismatch: sender is not ...", ViolationKind.BAD_SIGNATURE),
        ("ad: PeerMismatch: envelope signed by X arrived from Y", ViolationKind.REPLAY),
        ("ReplayedNonce: nonce ab already seen", ViolationKind.REPLAY),
        ("StaleTimestamp: timestamp is +40 s off", ViolationKind.REPLAY),
        ("WrongRecipient: addressed to someone else", ViolationKind.REPLAY),
        ("reply: MalformedEnvelope: outer array is not msgpack", ViolationKind.SCHEMA),
        ("opinion: SchemaError: trust must be <= 1", ViolationKind.SCHEMA),
        ("UnexpectedMessage: task.result on the task protocol", ViolationKind.SCHEMA),
        ("non-ad message on the ads topic", ViolationKind.SCHEMA),
        ("FrameTooLarge: 9 MiB over the limit", ViolationKind.OVERSIZE),
        ("schema: 3 scores for 4 choices", ViolationKind.SCHEMA),
    ],
)
def test_violation_details_map_to_their_sub_kind(detail: str, kind: ViolationKind) -> None:
    assert violation_kind(detail) is kind
    record = to_record(PEER, "protocol_violation", detail, at=10.0)
    assert record is not None
    assert record.kind is Evidence.PROTOCOL_VIOLATION
    assert record.subkind == kind.value
    assert TrustParams().weight_of(record) == TrustParams().violation_weights[kind.value]


def test_mapping_is_idempotent_so_stored_rows_replay_unchanged() -> None:
    first = to_record(PEER, "protocol_violation", "ad: BadSignature: tampered", at=1.0)
    assert first is not None
    again = to_record(PEER, first.kind.value, first.detail, at=1.0)
    assert again == first


def test_stalls_are_timeouts_and_broken_streams_are_no_evidence() -> None:
    stalled = to_record(PEER, "protocol_violation", "FrameTimeout: no frame within 10 s")
    assert stalled is not None and stalled.kind is Evidence.TIMEOUT
    broken = to_record(PEER, "protocol_violation", "TruncatedFrame: stream ended inside the frame body after 100 bytes")
    assert broken is not None and broken.kind is Evidence.TIMEOUT
    # A requester that gave up, or a connection this node closed itself, says nothing bad.
    assert to_record(PEER, "protocol_violation", "FrameWriteError: stream is reset") is None
    assert to_record(PEER, "protocol_violation", "TruncatedFrame: stream closed before a frame started (eof)") is None


def test_other_kinds_pass_through_and_unknown_kinds_are_rejected() -> None:
    for kind in ("task_ok", "timeout", "refusal_busy", "refusal_other", "task_late", "update_outlier"):
        record = to_record(PEER, kind, "x")
        assert record is not None and record.kind.value == kind
    with pytest.raises(InvalidInput, match="unknown evidence kind"):
        to_record(PEER, "slow_and_rude", "")
    with pytest.raises(InvalidInput):
        to_record("not a peer id!", "task_ok", "")


def test_violation_source_names_where_the_message_came_from() -> None:
    assert violation_source("bad_signature: BadSignature: x") == "request"
    assert violation_source("replay: ad: PeerMismatch: y") == "ad"
    assert violation_source("schema: reply: MalformedEnvelope: z") == "reply"
    assert violation_source("schema: opinion: SchemaError: a") == "opinion"
    assert violation_source("pow: nonce 3 lacks 8 bits") == "ad"


def test_deadline_and_rate_limit_refusals_count_as_back_pressure() -> None:
    for reason in ("busy", "deadline", "rate_limited"):
        record = to_record(PEER, "refusal_other", f"{PEER} refused the task ({reason}): try later")
        assert record is not None and record.kind is Evidence.REFUSAL_BUSY
    untrusted = to_record(PEER, "refusal_other", f"{PEER} refused the task (untrusted): banned")
    assert untrusted is not None and untrusted.kind is Evidence.REFUSAL_OTHER
