"""The node identity: created once, reused forever, never silently replaced."""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

import multiaddr
import pytest
import trio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from libp2p import new_host
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.network.config import ConnectionConfig
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from peermind.node.errors import IdentityError
from peermind.node.identity import (
    KEY_FILENAME,
    NodeIdentity,
    create_identity,
    identity_key_path,
    load_identity,
    load_or_create_identity,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_creates_a_private_pem_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "deep" / "data"
    ident = load_or_create_identity(data_dir)
    key_file = data_dir / KEY_FILENAME
    assert ident.key_path == key_file == identity_key_path(data_dir)
    assert _mode(key_file) == 0o600
    assert _mode(data_dir) == 0o700
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert ident.peer_id_b58.startswith("12D3KooW")
    assert sorted(os.listdir(data_dir)) == [KEY_FILENAME]  # no temp file left behind
    assert "PRIVATE" not in repr(ident) and ident.peer_id_b58 in repr(ident)


def test_peer_id_is_stable_across_loads(tmp_path: Path) -> None:
    first = load_or_create_identity(tmp_path)
    again = load_or_create_identity(tmp_path)
    loaded = load_identity(tmp_path)
    assert first.peer_id_b58 == again.peer_id_b58 == loaded.peer_id_b58
    key_pair = loaded.libp2p_key_pair()
    assert loaded.peer_id == ID.from_pubkey(key_pair.public_key)
    assert loaded.peer_id.to_base58() == loaded.peer_id_b58
    assert ID.from_base58(loaded.peer_id_b58) == first.peer_id


def test_libp2p_and_cryptography_views_are_the_same_key(tmp_path: Path) -> None:
    ident = load_or_create_identity(tmp_path)
    message = b"peermind envelope bytes"
    libp2p_sig = ident.libp2p_key_pair().private_key.sign(message)
    ident.private_key.public_key().verify(libp2p_sig, message)  # raises if wrong
    crypto_sig = ident.private_key.sign(message)
    # How a receiver checks: the public key is recovered from the peer ID itself.
    assert ident.peer_id.extract_public_key().verify(message, crypto_sig)
    assert not ident.peer_id.extract_public_key().verify(message + b"!", crypto_sig)
    assert ident.public_key_bytes == ident.private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def test_existing_key_is_not_overwritten_without_force(tmp_path: Path) -> None:
    original = create_identity(tmp_path)
    before = original.key_path.read_bytes()
    with pytest.raises(IdentityError, match="key exists at .*identity.key.*--force"):
        create_identity(tmp_path)
    assert original.key_path.read_bytes() == before
    replaced = create_identity(tmp_path, force=True)
    assert replaced.peer_id_b58 != original.peer_id_b58
    assert load_identity(tmp_path).peer_id_b58 == replaced.peer_id_b58
    assert _mode(replaced.key_path) == 0o600
    assert sorted(os.listdir(tmp_path)) == [KEY_FILENAME]


def _encrypted_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )


def _ec_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "corrupt"),
        (b"\x00\xffnot a key at all", "corrupt"),
        (
            b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n",
            "corrupt",
        ),
        (_encrypted_pem(), "password-protected"),
        (_ec_pem(), "non-Ed25519 key"),
        (b"x" * 70_000, "too large"),
    ],
    ids=["empty", "garbage", "truncated-pem", "encrypted", "not-ed25519", "huge"],
)
def test_a_broken_key_is_an_error_and_never_replaced(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    key_file = tmp_path / KEY_FILENAME
    key_file.write_bytes(content)
    key_file.chmod(0o600)
    with pytest.raises(IdentityError, match=reason) as info:
        load_or_create_identity(tmp_path)
    assert str(key_file) in str(info.value)
    assert key_file.read_bytes() == content  # the node's identity was not swapped


def test_missing_key_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match=f"no identity key at {tmp_path / KEY_FILENAME}"):
        load_identity(tmp_path)


def test_key_path_that_is_a_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / KEY_FILENAME).mkdir()
    with pytest.raises(IdentityError, match="not a regular file"):
        load_or_create_identity(tmp_path)


def test_key_readable_by_others_is_fixed_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ident = create_identity(tmp_path)
    ident.key_path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="peermind.node.identity"):
        loaded = load_identity(tmp_path)
    assert loaded.peer_id_b58 == ident.peer_id_b58
    assert _mode(ident.key_path) == 0o600
    assert any("644" in r.getMessage() and "0600" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a mode-000 file")
def test_unreadable_key_names_the_file(tmp_path: Path) -> None:
    ident = create_identity(tmp_path)
    ident.key_path.chmod(0)
    try:
        with pytest.raises(IdentityError, match="cannot open identity key"):
            load_identity(tmp_path)
    finally:
        ident.key_path.chmod(0o600)


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    barrier = threading.Barrier(6)
    results: list[NodeIdentity] = []

    def start() -> None:
        barrier.wait()
        results.append(load_or_create_identity(tmp_path))

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 6
    assert len({r.peer_id_b58 for r in results}) == 1
    assert results[0].peer_id_b58 == load_identity(tmp_path).peer_id_b58
    assert sorted(os.listdir(tmp_path)) == [KEY_FILENAME]


@pytest.mark.integration
async def test_a_real_noise_handshake_authenticates_the_stored_identity(tmp_path: Path) -> None:
    """Over real sockets, the remote side sees exactly the peer ID derived from our key file."""
    server_id = load_or_create_identity(tmp_path / "server")
    client_id = load_or_create_identity(tmp_path / "client")

    def host_for(ident: NodeIdentity):  # type: ignore[no-untyped-def]
        key_pair = ident.libp2p_key_pair()
        noise = NoiseTransport(key_pair, noise_privkey=create_x25519_key_pair().private_key)
        return new_host(
            key_pair=key_pair,
            sec_opt={NOISE_PROTOCOL_ID: noise},
            connection_config=ConnectionConfig(max_connections_per_peer=1),
        )

    server, client = host_for(server_id), host_for(client_id)
    assert server.get_id() == server_id.peer_id
    try:
        async with (
            server.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]),
            client.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]),
        ):
            with trio.fail_after(10):
                await client.connect(PeerInfo(server_id.peer_id, server.get_transport_addrs()))
                for _ in range(1000):  # the server registers the connection just after
                    if client_id.peer_id in server.get_network().get_connections_map():
                        break
                    await trio.sleep(0.01)
                else:
                    pytest.fail("the server never saw the client's peer ID")
    finally:
        with trio.move_on_after(5):
            await client.close()
            await server.close()


def test_a_key_created_between_the_check_and_the_create_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race test_concurrent_first_starts_agree_on_one_key hits now and then, made certain:
    another starter writes the key after our first look, before create_identity's own check."""
    theirs = load_or_create_identity(tmp_path)
    import peermind.node.identity as identity_module

    real_lexists = os.path.lexists
    looks: list[str] = []

    def lexists(path: str | os.PathLike[str]) -> bool:  # our first look misses the key; later looks see it
        looks.append(str(path))
        return len(looks) > 1 and real_lexists(path)

    monkeypatch.setattr(identity_module.os.path, "lexists", lexists)
    assert load_or_create_identity(tmp_path).peer_id_b58 == theirs.peer_id_b58
