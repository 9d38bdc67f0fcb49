"""Identity: our peer IDs and signatures are byte-for-byte libp2p's."""

from __future__ import annotations

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from libp2p.crypto.ed25519 import Ed25519PublicKey as Libp2pEd25519PublicKey
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID
from peermind.protocol import (
    ENVELOPE_DOMAIN,
    InvalidPeerId,
    InvalidPublicKey,
    Signer,
    TaskResult,
    Verifier,
    peer_id_from_b58,
    peer_id_from_public_key,
    peer_id_to_b58,
    seal,
)
from protocol_testkit import NOW_MS, header, pack, wire_from_payload


def test_peer_id_equals_libp2p_for_a_libp2p_generated_key() -> None:
    key_pair = create_new_key_pair()
    expected = ID.from_pubkey(key_pair.public_key)
    proto = key_pair.public_key.serialize()
    assert peer_id_from_public_key(proto) == expected.to_bytes()
    assert peer_id_to_b58(peer_id_from_public_key(proto)) == expected.to_base58()
    signer = Signer.from_libp2p(key_pair.private_key)
    assert signer.peer_id == expected.to_bytes()
    assert signer.peer_id_b58 == expected.to_base58()
    assert signer.public_key_proto == proto
    assert Signer.from_libp2p(key_pair).peer_id == expected.to_bytes()  # a KeyPair works too


def test_peer_id_equals_libp2p_for_our_generated_key() -> None:
    signer = Signer.generate()
    libp2p_key = Libp2pEd25519PublicKey.from_bytes(signer.public_key_raw)
    assert ID.from_pubkey(libp2p_key).to_bytes() == signer.peer_id
    assert signer.peer_id_b58.startswith("12D3KooW")


def test_libp2p_host_key_signature_verifies_with_our_code() -> None:
    """An envelope signed by libp2p's Ed25519PrivateKey.sign opens with our Verifier."""
    key_pair = create_new_key_pair()
    signer = Signer.from_libp2p(key_pair.private_key)
    body = TaskResult(task_id=b"r" * 16, text="4").to_body()
    payload = pack(header(signer, msg_type="task.result", body=body))
    libp2p_signature = key_pair.private_key.sign(ENVELOPE_DOMAIN + payload)
    assert libp2p_signature == signer.sign(ENVELOPE_DOMAIN + payload)  # deterministic Ed25519
    env = Verifier().open(wire_from_payload(payload, None, libp2p_signature), now_ms=NOW_MS,
                          expected_sender=ID.from_pubkey(key_pair.public_key).to_bytes())
    assert env.body == TaskResult(task_id=b"r" * 16, text="4")


def test_our_signature_verifies_with_libp2p() -> None:
    signer = Signer.generate()
    payload, signature = msgpack.unpackb(seal(signer, TaskResult(task_id=b"r" * 16)))
    extracted = ID(signer.peer_id).extract_public_key()
    assert extracted is not None
    assert extracted.verify(ENVELOPE_DOMAIN + payload, signature)
    assert not extracted.verify(payload, signature)  # the domain prefix matters


def test_signer_from_seed_is_rfc8032() -> None:
    seed = bytes(range(32))
    reference = Ed25519PrivateKey.from_private_bytes(seed)
    assert Signer.from_seed(seed).sign(b"m") == reference.sign(b"m")
    with pytest.raises(ValueError):
        Signer.from_seed(b"short")
    with pytest.raises(TypeError):
        Signer(b"\x00" * 32)  # type: ignore[arg-type]


def test_b58_round_trip_and_errors() -> None:
    signer = Signer.generate()
    assert peer_id_from_b58(signer.peer_id_b58) == signer.peer_id
    for bad in ("", "0OIl", "x" * 200):
        with pytest.raises(InvalidPeerId):
            peer_id_from_b58(bad)
    with pytest.raises(InvalidPeerId):
        peer_id_to_b58(b"")


@pytest.mark.parametrize(
    "key",
    [b"", b"\x08\x01\x12\x20" + b"\x00" * 31, b"\x08\x00\x12\x20" + b"\x00" * 32,
     b"\x12\x20" + b"\x00" * 32 + b"\x08\x01"],
)
def test_non_ed25519_or_badly_encoded_keys_are_rejected(key: bytes) -> None:
    with pytest.raises(InvalidPublicKey):
        peer_id_from_public_key(key)
