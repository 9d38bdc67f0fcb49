"""Property tests: whatever bytes arrive, ``Verifier.open`` raises only ProtocolError.

10,300 examples in the default run (see each ``max_examples``): random
bytes, bit flips, byte insertions/deletions, truncations, oversize input,
and properly signed envelopes with random headers and bodies (so the code
after the signature check is fuzzed too, not just the cheap early rejects).
"""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peermind.protocol import (
    CapabilityAd,
    Envelope,
    FrameTooLarge,
    Message,
    ModelInfo,
    ProtocolError,
    Signer,
    TrainMessage,
    TrustOpinion,
    Verifier,
    message_types,
    seal,
)
from protocol_testkit import NOW_MS, header, pack, sample_request, wire

SIGNER = Signer.from_seed(b"F" * 32)
PEER = Signer.from_seed(b"P" * 32).peer_id_b58
VALID_BODIES: list[Message] = [
    sample_request(),
    CapabilityAd(network="n", ttl_s=60, seq=1, models=[ModelInfo(name="m", chat=True)],
                 addrs=["/ip4/127.0.0.1/tcp/1"], tags=["a"]),
    TrainMessage(run_id="r", round=1, payload=b"\x07" * 300),
    TrustOpinion(epoch=1),
]
VALID = [seal(SIGNER, body, now_ms=NOW_MS, nonce=bytes([i]) * 16)
         for i, body in enumerate(VALID_BODIES)]

def fuzz(examples: int) -> settings:
    """Explicit example counts: their sum is the documented default-run total."""
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(),
    st.text(max_size=24),
    st.binary(max_size=40),
)
shallow_values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=8), scalars, max_size=3),
)
"""Cheap to generate: used per field, where most of the work is."""
msgpack_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=8,
)


def open_or_protocol_error(data: bytes) -> Envelope | None:
    """Open with a fresh verifier; ProtocolError is an expected outcome, anything else fails."""
    try:
        return Verifier().open(data, now_ms=NOW_MS)
    except ProtocolError:
        return None


def same_message(env: Envelope, original: bytes) -> bool:
    reference = Verifier().open(original, now_ms=NOW_MS)
    return (env.body, env.sender, env.nonce, env.timestamp_ms, env.recipient) == (
        reference.body, reference.sender, reference.nonce, reference.timestamp_ms,
        reference.recipient,
    )


@fuzz(2500)
@given(st.one_of(
    st.binary(max_size=2048),
    st.binary(max_size=600).map(lambda b: b"\x92" + b),
    st.binary(max_size=600).map(lambda b: b"\x92\xc5\x01\x00" + b),
))
def test_random_bytes(data: bytes) -> None:
    open_or_protocol_error(data)


@fuzz(1800)
@given(st.sampled_from(range(len(VALID))), st.lists(st.integers(min_value=0), min_size=1,
                                                     max_size=4))
def test_bit_flips(which: int, positions: list[int]) -> None:
    original = VALID[which]
    data = bytearray(original)
    for pos in positions:
        bit = pos % (len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
    env = open_or_protocol_error(bytes(data))
    if env is not None:  # only a flip that cancels out may still open, unchanged
        assert same_message(env, original)


@fuzz(1800)
@given(
    st.sampled_from(range(len(VALID))),
    st.lists(
        st.tuples(st.booleans(), st.integers(min_value=0), st.binary(min_size=1, max_size=8)),
        min_size=1, max_size=3,
    ),
)
def test_byte_insertions_and_deletions(which: int, edits: list[tuple[bool, int, bytes]]) -> None:
    original = VALID[which]
    data = bytearray(original)
    for insert, pos, chunk in edits:
        at = pos % (len(data) + 1)
        if insert:
            data[at:at] = chunk
        elif data:
            del data[at : at + len(chunk)]
    env = open_or_protocol_error(bytes(data))
    if env is not None:
        assert same_message(env, original)


@fuzz(800)
@given(st.sampled_from(range(len(VALID))), st.integers(min_value=0))
def test_truncations(which: int, cut: int) -> None:
    original = VALID[which]
    assert open_or_protocol_error(original[: cut % len(original)]) is None


def test_every_prefix_of_a_valid_envelope_is_rejected() -> None:
    original = VALID[0]
    for cut in range(len(original)):
        assert open_or_protocol_error(original[:cut]) is None


@fuzz(800)
@given(st.integers(min_value=0, max_value=4096), st.integers(min_value=1, max_value=4096),
       st.binary(max_size=64))
def test_oversize_is_always_frame_too_large(cap: int, extra: int, head: bytes) -> None:
    data = (VALID[0] + head + b"\x00" * (cap + extra))[: cap + extra]
    data = data + b"\x00" * (cap + extra - len(data))
    try:
        Verifier(max_frame_bytes=cap).open(data, now_ms=NOW_MS)
    except FrameTooLarge:
        return
    raise AssertionError("oversize input was not rejected as FrameTooLarge")


field_names = ["version", "msg_type", "sender", "sender_key", "recipient", "timestamp_ms",
               "nonce", "body"]


@fuzz(1300)
@given(st.dictionaries(st.sampled_from(field_names), shallow_values, max_size=3),
       st.sampled_from(sorted(message_types)))
def test_signed_envelopes_with_random_header_fields(overrides: dict[str, Any],
                                                    msg_type: str) -> None:
    """Properly signed, so errors past the signature check are exercised."""
    fields: dict[str, Any] = {"msg_type": msg_type, **overrides}
    open_or_protocol_error(wire(SIGNER, header(SIGNER, **fields)))


def _valid_value(cls: type[Message], name: str) -> Any:
    for body in VALID_BODIES:
        if isinstance(body, cls):
            return body.to_body().get(name)
    return None


@st.composite
def random_bodies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    msg_type = draw(st.sampled_from(sorted(message_types)))
    cls = message_types[msg_type]
    body: dict[str, Any] = {}
    for info in cls.fields_info():
        choice = draw(st.integers(min_value=0, max_value=3))
        if choice == 0:
            continue  # absent
        if choice == 1 and _valid_value(cls, info.name) is not None:
            body[info.name] = _valid_value(cls, info.name)
        else:
            body[info.name] = draw(shallow_values)
    body.update(draw(st.dictionaries(st.text(max_size=10), msgpack_values, max_size=1)))
    return msg_type, body


@fuzz(1300)
@given(random_bodies())
def test_signed_envelopes_with_random_bodies(case: tuple[str, dict[str, Any]]) -> None:
    msg_type, body = case
    try:
        payload = msgpack.packb(header(SIGNER, msg_type=msg_type, body=body), use_bin_type=True)
    except (OverflowError, ValueError):
        return  # not representable in msgpack at all
    env = open_or_protocol_error(pack([payload, SIGNER.sign(b"peermind/envelope/v1\x00"
                                                             + payload)]))
    if env is not None:  # anything accepted must re-validate and re-encode cleanly
        assert type(env.body).from_body(env.body.to_body()) == env.body
