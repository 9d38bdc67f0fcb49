"""SPEC.md's test vectors, regenerated from the seed: the document cannot drift."""

from __future__ import annotations

import struct

import msgpack
from peermind.protocol import ENVELOPE_DOMAIN, Signer, Verifier, peer_id_to_b58
from protocol_testkit import (
    SPEC_PATH,
    VECTOR_NONCE,
    VECTOR_SEED,
    VECTOR_TIMESTAMP_MS,
    compute_vectors,
    parse_vectors,
    vector_request,
)


def test_spec_vectors_match_the_code() -> None:
    printed = parse_vectors(SPEC_PATH.read_text())
    assert printed == compute_vectors()


def test_printed_vectors_are_self_consistent() -> None:
    """Check the printed hex the way a foreign implementer would, step by step."""
    v = parse_vectors(SPEC_PATH.read_text())
    assert bytes.fromhex(v["seed"]) == VECTOR_SEED
    assert v["public_key_proto"] == "08011220" + v["public_key_raw"]
    assert v["peer_id"] == "0024" + v["public_key_proto"]
    assert peer_id_to_b58(bytes.fromhex(v["peer_id"])) == v["peer_id_b58"]
    payload = bytes.fromhex(v["payload"])
    fields = msgpack.unpackb(payload)
    assert fields[:7] == [1, "task.request", bytes.fromhex(v["peer_id"]),
                          bytes.fromhex(v["public_key_proto"]), "", VECTOR_TIMESTAMP_MS,
                          VECTOR_NONCE]
    assert payload.endswith(bytes.fromhex(v["body"]))
    envelope = bytes.fromhex(v["envelope"])
    assert msgpack.unpackb(envelope) == [payload, bytes.fromhex(v["signature"])]
    signer = Signer.from_seed(VECTOR_SEED)
    assert signer.sign(ENVELOPE_DOMAIN + payload).hex() == v["signature"]
    env = Verifier().open(envelope, now_ms=VECTOR_TIMESTAMP_MS)
    assert env.body == vector_request()
    frame = struct.pack(">I", len(envelope)) + envelope
    assert frame[:4] == len(envelope).to_bytes(4, "big")
