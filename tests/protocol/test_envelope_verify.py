"""Envelope seal/open: the happy path and one named test per rejection case."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from peermind.protocol import (
    DEFAULT_MAX_FRAME,
    ENVELOPE_DOMAIN,
    BadSignature,
    CapabilityAd,
    ChatMessage,
    ContinuationScore,
    FeedbackRecord,
    FrameTooLarge,
    InvalidPublicKey,
    MalformedEnvelope,
    Message,
    ModelInfo,
    OutcomeEntry,
    PeerMismatch,
    PeerOpinion,
    ProtocolError,
    ReplayedNonce,
    SchemaError,
    SenderKeyMismatch,
    Signer,
    StaleTimestamp,
    TaskAward,
    TaskBid,
    TaskChunk,
    TaskOffer,
    TaskOutcome,
    TaskRefusal,
    TaskResult,
    TrainInvite,
    TrainMessage,
    TrainReply,
    TrustOpinion,
    UnknownMessageType,
    UnknownRequiredField,
    UnsupportedVersion,
    Verifier,
    WrongRecipient,
    message_types,
    seal,
    seal_body,
)
from protocol_testkit import (
    NOW_MS,
    header,
    pack,
    sample_request,
    wire,
    wire_from_payload,
)


@pytest.fixture(scope="module")
def alice() -> Signer:
    return Signer.from_seed(b"A" * 32)


@pytest.fixture(scope="module")
def bob() -> Signer:
    return Signer.from_seed(b"B" * 32)


def sealed(signer: Signer, body: Message | None = None, **kw: object) -> bytes:
    kw.setdefault("now_ms", NOW_MS)
    return seal(signer, body or sample_request(), **kw)  # type: ignore[arg-type]


def open_at_now(data: bytes, verifier: Verifier | None = None, **kw: object):  # type: ignore[no-untyped-def]
    return (verifier or Verifier()).open(data, now_ms=NOW_MS, **kw)  # type: ignore[arg-type]


# --- happy path ------------------------------------------------------------

PEER = Signer.from_seed(b"P" * 32).peer_id_b58
SAMPLES: list[Message] = [
    sample_request(),
    sample_request(kind="score", prompt="2+2=", messages=[], continuations=["4", "5"]),
    TaskResult(task_id=b"t" * 16, text="Paris", prompt_tokens=9, completion_tokens=2,
               latency_ms=12.5, confidence=-0.1, scores=[ContinuationScore(logprob=-0.5,
               n_tokens=1)], model="smollm2"),
    TaskRefusal(task_id=b"t" * 16, reason="busy", detail="queue full", retry_after_ms=500),
    TaskOffer(task_id=b"t" * 16, kind="generate", prompt_tokens_est=40, max_tokens=64,
              deadline_ms=NOW_MS, budget_cost=1.5, embedding_digest=b"\x01" * 32),
    TaskBid(task_id=b"t" * 16, est_latency_ms=300.0, cost=0.2, confidence=0.8, queue_depth=1,
            model="m"),
    TaskAward(task_id=b"t" * 16, winner=PEER),
    TaskChunk(task_id=b"t" * 16, seq=0, text="Par"),
    TaskOutcome(outcomes=[OutcomeEntry(task_id=b"t" * 16, correct=True, split="validation")]),
    CapabilityAd(network="testnet", addrs=["/ip4/127.0.0.1/tcp/4001"],
                 models=[ModelInfo(name="smollm2-135m", family="llama", params_m=135.0,
                                   quant="Q4_K_M", n_ctx=2048, size_mb=100.0, prompt_tps=900.0,
                                   gen_tps=80.0, chat=True)],
                 queue_depth=0, max_queue=8, max_concurrency=1, load=0.1, cost_per_1k=0.0,
                 tags=["general"], skills=["math"], ttl_s=60, seq=7, training=True, ram_mb=4096),
    FeedbackRecord(task_id=b"t" * 16, peer=PEER, mode="route", correct=1, cost=0.1,
                   latency_ms=120.0, confidence=-0.2),
    TrustOpinion(epoch=3, opinions=[PeerOpinion(peer=PEER, trust=0.75)]),
    TrainInvite(run_id="run-1", round=2, coordinator=PEER, deadline_ms=NOW_MS, strategy="fedavg"),
    TrainMessage(run_id="run-1", round=2, payload=b"\x00" * 1000),
    TrainReply(run_id="run-1", round=2, payload=b"\x01" * 10, error=""),
]


def test_samples_cover_every_registered_type() -> None:
    assert {type(m).TYPE for m in SAMPLES} == set(message_types)


@pytest.mark.parametrize("body", SAMPLES, ids=lambda m: type(m).TYPE)
def test_every_message_type_round_trips(alice: Signer, body: Message) -> None:
    data = sealed(alice, body, recipient=PEER)
    env = open_at_now(data, expected_sender=alice.peer_id, expected_recipient=PEER)
    assert env.body == body
    assert type(env.body) is type(body)
    assert env.msg_type == body.TYPE
    assert env.sender == alice.peer_id
    assert env.sender_b58 == alice.peer_id_b58
    assert env.sender_key == alice.public_key_proto
    assert env.recipient == PEER
    assert env.timestamp_ms == NOW_MS
    assert len(env.nonce) == 16
    assert env.version == 1
    assert env.raw_size == len(data)


def test_seal_uses_fresh_nonces_and_the_current_clock(alice: Signer) -> None:
    verifier = Verifier()
    first = verifier.open(seal(alice, sample_request()))
    second = verifier.open(seal(alice, sample_request()))
    assert first.nonce != second.nonce


def test_seal_is_deterministic_given_time_and_nonce(alice: Signer) -> None:
    one = sealed(alice, nonce=b"x" * 16)
    two = sealed(alice, nonce=b"x" * 16)
    assert one == two


def test_seal_rejects_nested_records_and_bad_arguments(alice: Signer) -> None:
    with pytest.raises(TypeError):
        seal(alice, ChatMessage(role="user", content="hi"))
    with pytest.raises(ValueError):
        seal(alice, sample_request(), nonce=b"short")
    with pytest.raises(ValueError):
        seal(alice, sample_request(), recipient="x" * 300)


def test_signature_covers_domain_prefix_and_payload(alice: Signer) -> None:
    payload, signature = msgpack.unpackb(sealed(alice))
    pub = Ed25519PrivateKey.from_private_bytes(b"A" * 32).public_key()
    pub.verify(signature, ENVELOPE_DOMAIN + payload)  # raises if not
    with pytest.raises(InvalidSignature):
        pub.verify(signature, payload)


# --- rejection cases, in verification order ---------------------------------


def test_oversize_envelope_is_frame_too_large() -> None:
    with pytest.raises(FrameTooLarge):
        Verifier().open(b"\x00" * (DEFAULT_MAX_FRAME + 1))
    with pytest.raises(FrameTooLarge):
        Verifier(max_frame_bytes=100).open(b"\x00" * 101)


def test_not_msgpack_is_malformed() -> None:
    with pytest.raises(MalformedEnvelope):
        open_at_now(b"\xc1 this is not msgpack")
    with pytest.raises(MalformedEnvelope):
        open_at_now(b"")


def test_outer_shape_must_be_payload_and_64_byte_signature(alice: Signer) -> None:
    payload, signature = msgpack.unpackb(sealed(alice))
    for bad in (
        pack([payload]),
        pack([payload, signature, b""]),
        pack([payload, signature[:63]]),
        pack([payload.hex(), signature]),
        pack({"payload": payload, "signature": signature}),
        pack(7),
    ):
        with pytest.raises(MalformedEnvelope):
            open_at_now(bad)


def test_truncated_envelope_is_malformed(alice: Signer) -> None:
    data = sealed(alice)
    with pytest.raises(MalformedEnvelope):
        open_at_now(data[:-1])


def test_trailing_bytes_are_malformed(alice: Signer) -> None:
    with pytest.raises(MalformedEnvelope):
        open_at_now(sealed(alice) + b"\x00")
    payload, _ = msgpack.unpackb(sealed(alice))
    with pytest.raises(MalformedEnvelope):
        open_at_now(wire_from_payload(payload + b"\xc0", alice))


@pytest.mark.parametrize(
    "field,value",
    [
        ("msg_type", b"task.request"),
        ("msg_type", ""),
        ("sender", "12D3KooW"),
        ("sender", b""),
        ("sender_key", None),
        ("recipient", b"peer"),
        ("recipient", "r" * 257),
        ("timestamp_ms", float(NOW_MS)),
        ("timestamp_ms", True),
        ("nonce", b"n" * 15),
        ("nonce", "n" * 16),
        ("body", [1, 2]),
        ("body", b"\x80"),
    ],
)
def test_header_field_of_wrong_type_is_malformed(alice: Signer, field: str, value: object) -> None:
    overrides: dict[str, Any] = {field: value}
    with pytest.raises(MalformedEnvelope):
        open_at_now(wire(alice, header(alice, **overrides)))


def test_payload_with_wrong_field_count_is_malformed(alice: Signer) -> None:
    with pytest.raises(MalformedEnvelope):
        open_at_now(wire(alice, header(alice)[:7]))
    with pytest.raises(MalformedEnvelope):
        open_at_now(wire(alice, [*header(alice), "extra"]))
    with pytest.raises(MalformedEnvelope):
        open_at_now(wire(alice, ["1", *header(alice)[1:]]))


def test_unsupported_version(alice: Signer) -> None:
    with pytest.raises(UnsupportedVersion):
        open_at_now(wire(alice, header(alice, version=2)))
    with pytest.raises(UnsupportedVersion):  # a future layout is still reported as a version
        open_at_now(wire(alice, [2, "anything"]))


def test_unknown_message_type(alice: Signer) -> None:
    with pytest.raises(UnknownMessageType):
        open_at_now(seal_body(alice, "task.teleport", {}, now_ms=NOW_MS))


def test_sender_key_mismatch(alice: Signer, bob: Signer) -> None:
    data = wire(alice, header(alice, sender=bob.peer_id))
    with pytest.raises(SenderKeyMismatch):
        open_at_now(data)


def test_sender_key_that_is_not_ed25519_protobuf(alice: Signer) -> None:
    rsa_like = b"\x08\x00\x12\x20" + alice.public_key_raw
    data = wire(alice, header(alice, sender_key=rsa_like, sender=b"\x00\x24" + rsa_like))
    with pytest.raises(InvalidPublicKey):
        open_at_now(data)
    assert issubclass(InvalidPublicKey, MalformedEnvelope)


def test_bad_signature_from_another_key(alice: Signer, bob: Signer) -> None:
    payload = pack(header(alice))
    with pytest.raises(BadSignature):
        open_at_now(wire_from_payload(payload, bob))


def test_bad_signature_flipped_bit(alice: Signer) -> None:
    payload, signature = msgpack.unpackb(sealed(alice))
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    with pytest.raises(BadSignature):
        open_at_now(wire_from_payload(payload, None, flipped))


@pytest.mark.parametrize("signature", [b"\xff" * 64, b"\x00" * 64])
def test_structurally_invalid_signature_is_bad_signature(alice: Signer, signature: bytes) -> None:
    payload, _ = msgpack.unpackb(sealed(alice))
    with pytest.raises(BadSignature):
        open_at_now(wire_from_payload(payload, None, signature))


def test_mutated_body_field_without_resigning_fails_bad_signature(alice: Signer) -> None:
    payload, signature = msgpack.unpackb(sealed(alice))
    fields = msgpack.unpackb(payload)
    fields[7]["max_tokens"] = 4096  # the attacker wants a longer answer
    tampered = pack(fields)
    assert tampered != payload
    with pytest.raises(BadSignature):
        open_at_now(wire_from_payload(tampered, None, signature))


def test_mutated_header_field_without_resigning_fails_bad_signature(alice: Signer) -> None:
    payload, signature = msgpack.unpackb(sealed(alice))
    fields = msgpack.unpackb(payload)
    fields[5] += 1  # timestamp
    with pytest.raises(BadSignature):
        open_at_now(wire_from_payload(pack(fields), None, signature))


def test_peer_mismatch(alice: Signer, bob: Signer) -> None:
    with pytest.raises(PeerMismatch) as info:
        open_at_now(sealed(alice), expected_sender=bob.peer_id)
    assert info.value.sender == alice.peer_id


def test_wrong_recipient(alice: Signer, bob: Signer) -> None:
    data = sealed(alice, recipient=bob.peer_id_b58)
    assert open_at_now(data, expected_recipient=bob.peer_id_b58).recipient == bob.peer_id_b58
    with pytest.raises(WrongRecipient):
        open_at_now(data, expected_recipient=alice.peer_id_b58)


@pytest.mark.parametrize("offset_ms", [-30_001, 30_001, -10**9])
def test_stale_timestamp(alice: Signer, offset_ms: int) -> None:
    data = sealed(alice, now_ms=NOW_MS + offset_ms)
    with pytest.raises(StaleTimestamp) as info:
        open_at_now(data)
    assert info.value.sender == alice.peer_id


def test_timestamp_at_the_edge_of_the_window_is_accepted(alice: Signer) -> None:
    verifier = Verifier(max_skew_s=30.0)
    verifier.open(sealed(alice, now_ms=NOW_MS - 30_000), now_ms=NOW_MS)
    verifier.open(sealed(alice, now_ms=NOW_MS + 30_000), now_ms=NOW_MS)


def test_replayed_nonce(alice: Signer) -> None:
    verifier = Verifier()
    data = sealed(alice)
    open_at_now(data, verifier)
    with pytest.raises(ReplayedNonce) as info:
        open_at_now(data, verifier)
    assert info.value.sender == alice.peer_id


def test_same_nonce_from_different_senders_is_not_a_replay(alice: Signer, bob: Signer) -> None:
    verifier = Verifier()
    open_at_now(sealed(alice, nonce=b"z" * 16), verifier)
    open_at_now(sealed(bob, nonce=b"z" * 16), verifier)


def test_replay_after_the_window_is_caught_as_stale(alice: Signer) -> None:
    verifier = Verifier(max_skew_s=30.0)
    data = sealed(alice)
    verifier.open(data, now_ms=NOW_MS)
    # Time passes: the nonce expires from memory but the timestamp is now stale.
    verifier.open(sealed(alice, now_ms=NOW_MS + 31_000), now_ms=NOW_MS + 31_000)
    assert verifier.replay_entries == 1
    with pytest.raises(StaleTimestamp):
        verifier.open(data, now_ms=NOW_MS + 31_000)


def test_replay_cache_memory_is_bounded_by_capacity(alice: Signer) -> None:
    verifier = Verifier(replay_capacity=10)
    for i in range(25):  # one message per millisecond (an evicted timestamp becomes the sender's floor)
        open_at_now(sealed(alice, nonce=i.to_bytes(16, "big"), now_ms=NOW_MS - 100 + i), verifier)
    assert verifier.replay_entries == 10
    with pytest.raises(ReplayedNonce):  # the newest are still remembered
        open_at_now(sealed(alice, nonce=(24).to_bytes(16, "big"), now_ms=NOW_MS - 76), verifier)


def test_a_flood_cannot_evict_a_message_into_replayability(alice: Signer, bob: Signer) -> None:
    """Once evicted, a message is older than its sender's floor: its replay is still refused."""
    verifier = Verifier(replay_capacity=10)
    captured = sealed(alice, nonce=b"a" * 16, now_ms=NOW_MS - 5)
    open_at_now(captured, verifier)
    for i in range(100):  # the attacker's own valid messages push alice's entry out
        open_at_now(sealed(bob, nonce=i.to_bytes(16, "big"), now_ms=NOW_MS - 1000 + i), verifier)
    assert (alice.peer_id, b"a" * 16) not in verifier._replay  # evicted ...
    with pytest.raises(ReplayedNonce, match="floor"):  # ... and still refused
        open_at_now(captured, verifier)
    open_at_now(sealed(alice, nonce=b"b" * 16, now_ms=NOW_MS - 4), verifier)  # alice's next message passes


def test_replay_floors_carry_across_a_restart(alice: Signer) -> None:
    """What a node persists (take_replay_highs) and restores refuses replays into the new process."""
    before = Verifier()
    assert before.take_replay_highs() == {}  # the first call starts the tracking
    old = [sealed(alice, nonce=bytes([i]) * 16, now_ms=NOW_MS - 20 + i) for i in range(3)]
    for data in old:
        open_at_now(data, before)
    highs = before.take_replay_highs()
    assert highs == {alice.peer_id: NOW_MS - 18} and before.take_replay_highs() == {}
    after = Verifier()  # a restarted node: empty cache, the stored floors restored
    for sender, high in highs.items():
        after.restore_replay_floor(sender, high)
    for data in old:
        with pytest.raises(ReplayedNonce):
            open_at_now(data, after)
    open_at_now(sealed(alice, nonce=b"n" * 16, now_ms=NOW_MS - 10), after)
    # without the floors, the same replays would pass
    open_at_now(old[0], Verifier())


def test_forgeries_do_not_enter_the_replay_cache(alice: Signer, bob: Signer) -> None:
    verifier = Verifier()
    for i in range(5):
        payload = pack(header(alice, nonce=i.to_bytes(16, "big")))
        with pytest.raises(BadSignature):
            open_at_now(wire_from_payload(payload, bob), verifier)
    assert verifier.replay_entries == 0
    # ... so the genuine message with the same nonce is still accepted.
    open_at_now(wire(alice, header(alice, nonce=(0).to_bytes(16, "big"))), verifier)


def test_body_schema_error_names_field_and_sender(alice: Signer) -> None:
    body = sample_request().to_body()
    body["max_tokens"] = 100_000
    with pytest.raises(SchemaError) as info:
        open_at_now(seal_body(alice, "task.request", body, now_ms=NOW_MS))
    assert info.value.field == "max_tokens"
    assert "max_tokens" in str(info.value)
    assert info.value.sender == alice.peer_id


def test_body_missing_required_field(alice: Signer) -> None:
    body = sample_request().to_body()
    del body["task_id"]
    with pytest.raises(SchemaError, match="task_id"):
        open_at_now(seal_body(alice, "task.request", body, now_ms=NOW_MS))


def test_unknown_required_field(alice: Signer) -> None:
    body = {**sample_request().to_body(), "priority": 3, "_required": ["priority"]}
    with pytest.raises(UnknownRequiredField) as info:
        open_at_now(seal_body(alice, "task.request", body, now_ms=NOW_MS, canonical=True))
    assert info.value.field == "priority"


def test_unknown_optional_fields_are_ignored(alice: Signer) -> None:
    body = {**sample_request().to_body(), "priority": 3, "_required": ["kind"],
            "future": {"nested": [1, 2.5, None]}}
    env = open_at_now(seal_body(alice, "task.request", body, now_ms=NOW_MS, canonical=True))
    assert env.body == sample_request()


def _payload_with_raw_body(signer: Signer, body_bytes: bytes) -> bytes:
    prefix = pack(header(signer)[:7])  # fixarray(8) header would say 7: rebuild it
    assert prefix[0] == 0x97
    return wire_from_payload(b"\x98" + prefix[1:] + body_bytes, signer)


def test_body_with_duplicate_key_is_malformed(alice: Signer) -> None:
    body = b"\x82" + pack("kind") + pack("generate") + pack("kind") + pack("score")
    with pytest.raises(MalformedEnvelope, match="repeats"):
        open_at_now(_payload_with_raw_body(alice, body))


def test_body_with_ext_type_is_malformed(alice: Signer) -> None:
    for ext in (msgpack.ExtType(5, b"x"), msgpack.Timestamp(1, 0)):
        body = pack({**sample_request().to_body(), "future": [ext]})
        with pytest.raises(MalformedEnvelope, match="ext"):
            open_at_now(_payload_with_raw_body(alice, body))


def test_body_with_non_string_key_is_malformed(alice: Signer) -> None:
    body = msgpack.packb({1: "x"}, use_bin_type=True)
    with pytest.raises(MalformedEnvelope):
        open_at_now(_payload_with_raw_body(alice, body))


def test_body_with_invalid_utf8_is_malformed(alice: Signer) -> None:
    body = b"\x81" + pack("kind") + b"\xa2\xff\xfe"
    with pytest.raises(MalformedEnvelope):
        open_at_now(_payload_with_raw_body(alice, body))


def test_check_order_unknown_type_before_bad_signature(alice: Signer, bob: Signer) -> None:
    payload = pack(header(alice, msg_type="nope"))
    with pytest.raises(UnknownMessageType):
        open_at_now(wire_from_payload(payload, bob))


def test_check_order_bad_signature_before_stale_and_schema(alice: Signer, bob: Signer) -> None:
    payload = pack(header(alice, timestamp_ms=0, body={"kind": 5}))
    with pytest.raises(BadSignature):
        open_at_now(wire_from_payload(payload, bob))


def test_check_order_stale_before_replay_and_schema(alice: Signer) -> None:
    with pytest.raises(StaleTimestamp):
        open_at_now(wire(alice, header(alice, timestamp_ms=0, body={"kind": 5})))


def test_all_errors_share_one_base() -> None:
    for error in (FrameTooLarge, MalformedEnvelope, UnsupportedVersion, UnknownMessageType,
                  SenderKeyMismatch, BadSignature, PeerMismatch, StaleTimestamp, ReplayedNonce,
                  SchemaError, UnknownRequiredField, WrongRecipient, InvalidPublicKey):
        assert issubclass(error, ProtocolError)
