"""The signed-peer-record cache: identical bytes from the same peer are checked once; nothing else is trusted."""

from __future__ import annotations

from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.peer.id import ID
from libp2p.pubsub.pb.rpc_pb2 import RPC
from peermind.node.p2p.record_cache import RecordCache


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Host:
    """Any object will do as a host key; the cache keeps one table per host."""


def _peer() -> ID:
    return ID.from_pubkey(create_new_key_pair().public_key)


def _rpc(record: bytes | None) -> RPC:
    rpc = RPC()
    if record is not None:
        rpc.senderRecord = record
    return rpc


def _cache(verdicts: dict[bytes, bool]) -> tuple[RecordCache, list[bytes], _Clock]:
    checked: list[bytes] = []
    clock = _Clock()

    def consume(msg: RPC, _host: object, _peer: ID) -> bool:
        checked.append(bytes(msg.senderRecord))
        return verdicts.get(bytes(msg.senderRecord), False)

    return RecordCache(consume, clock=clock, refresh_s=60.0, max_entries=2), checked, clock  # type: ignore[arg-type]


def test_an_identical_record_from_the_same_peer_is_checked_once_until_the_refresh() -> None:
    cache, checked, clock = _cache({b"good": True})
    host, peer = _Host(), _peer()
    assert all(cache(_rpc(b"good"), host, peer) for _ in range(5))  # type: ignore[arg-type]
    assert checked == [b"good"] and cache.checks_skipped == 4
    clock.now += 61
    assert cache(_rpc(b"good"), host, peer)  # type: ignore[arg-type]
    assert checked == [b"good", b"good"]


def test_rejections_are_never_cached_and_other_bytes_peers_or_hosts_are_checked() -> None:
    cache, checked, _clock = _cache({b"good": True, b"new": True})
    host, peer, other = _Host(), _peer(), _peer()
    assert not cache(_rpc(b"forged"), host, peer)  # type: ignore[arg-type]
    assert not cache(_rpc(b"forged"), host, peer)  # type: ignore[arg-type]
    assert cache(_rpc(b"good"), host, peer)  # type: ignore[arg-type]
    assert not cache(_rpc(b"forged"), host, peer)  # a different record after a good one is checked
    assert cache(_rpc(b"good"), host, other)  # type: ignore[arg-type]  # the same bytes from another peer
    assert cache(_rpc(b"good"), _Host(), peer)  # type: ignore[arg-type]  # another host's peerstore
    assert checked == [b"forged", b"forged", b"good", b"forged", b"good", b"good"]
    assert cache(_rpc(None), host, peer)  # type: ignore[arg-type]  # no record: nothing to check
    assert len(checked) == 6


def test_the_table_per_host_is_bounded() -> None:
    cache, checked, _clock = _cache({b"good": True})
    host = _Host()
    peers = [_peer() for _ in range(3)]
    for peer in peers:
        cache(_rpc(b"good"), host, peer)  # type: ignore[arg-type]
    cache(_rpc(b"good"), host, peers[0])  # type: ignore[arg-type]  # evicted (max 2): checked again
    assert len(checked) == 4
