"""A peer that restarts on a new port must be reachable at once at its new address.

Real py-libp2p hosts on loopback sockets, in this process. Before the fix py-libp2p
0.8.1 kept two things that made a moved peer unreachable for our ``dial()``:
the peer's old address in the peerstore (``connect()`` only *adds* addresses, and the
swarm dials one address per transport, the oldest), and a 60 s per-peer "negative
cache" after a dial where every address failed.
"""

from __future__ import annotations

import itertools
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import pytest
import trio
from libp2p.abc import IHost
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from peermind.node.p2p.ads import AdBoard, AdGossip, ads_topic
from peermind.node.p2p.host import (
    PeerUnreachable,
    dial,
    full_addrs,
    is_connected,
    parse_peer_addr,
    running_host,
)
from peermind.protocol import CapabilityAd, Signer, Verifier, seal

LISTEN = ["/ip4/127.0.0.1/tcp/0"]


@asynccontextmanager
async def _host(key_pair: KeyPair | None = None) -> AsyncIterator[IHost]:
    async with running_host(key_pair or create_new_key_pair(), LISTEN) as host:
        yield host


def _addr(host: IHost) -> str:
    return full_addrs(host)[0]


def _free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dead_addr(peer_addr: str) -> str:
    """``peer_addr`` with its port replaced by one that nothing listens on."""
    parts = peer_addr.split("/")
    parts[parts.index("tcp") + 1] = str(_free_port())
    return "/".join(parts)


async def _wait_disconnected(host: IHost, other: IHost) -> None:
    with trio.fail_after(5):
        while is_connected(host, other.get_id()):  # noqa: ASYNC110 - libp2p offers no disconnect event here
            await trio.sleep(0.05)


def _stored_addrs(host: IHost, peer: IHost) -> list[str]:
    return [str(a) for a in host.get_peerstore().addrs(peer.get_id())]


async def test_a_peer_that_moved_is_dialed_at_its_new_address_despite_the_old_one_in_the_peerstore() -> None:
    """We were connected to B; B restarts on a new port; its fresh ad gives the new address."""
    b_keys = create_new_key_pair()
    async with _host() as a:
        async with _host(b_keys) as b:
            old = _addr(b)
            await dial(a, parse_peer_addr(old))
            assert is_connected(a, b.get_id())
        await _wait_disconnected(a, b)
        async with _host(b_keys) as b2:
            new = _addr(b2)
            assert new != old
            await dial(a, parse_peer_addr(new), timeout_s=5)
            assert is_connected(a, b2.get_id())
            assert _stored_addrs(a, b2) == [new.rsplit("/p2p/", 1)[0]]  # the stale address is gone


async def test_a_failed_dial_to_the_old_address_does_not_block_the_new_one() -> None:
    """A restarted node redials a stored (stale) address first, then learns the fresh one."""
    b_keys = create_new_key_pair()
    async with _host() as a:
        async with _host(b_keys) as b:
            old = _addr(b)
        with pytest.raises(PeerUnreachable):
            await dial(a, parse_peer_addr(old), timeout_s=5)
        async with _host(b_keys) as b2:
            await dial(a, parse_peer_addr(_addr(b2)), timeout_s=5)
            assert is_connected(a, b2.get_id())


async def test_the_same_address_is_retried_when_the_peer_comes_back() -> None:
    """A bootstrap peer that was down is reached on the next retry, not a minute later."""
    b_keys = create_new_key_pair()
    async with _host() as a:
        async with _host(b_keys) as b:
            addr = _addr(b)
        with pytest.raises(PeerUnreachable):
            await dial(a, parse_peer_addr(addr), timeout_s=5)
        port = addr.split("/tcp/")[1].split("/")[0]
        async with running_host(b_keys, [f"/ip4/127.0.0.1/tcp/{port}"]) as b2:
            assert _addr(b2) == addr
            await dial(a, parse_peer_addr(addr), timeout_s=5)
            assert is_connected(a, b2.get_id())


async def test_every_given_address_is_tried_not_only_the_first_per_transport() -> None:
    async with _host() as a, _host() as b:
        good = _addr(b)
        info = parse_peer_addr(good)
        both = PeerInfo(info.peer_id, [parse_peer_addr(_dead_addr(good)).addrs[0], info.addrs[0]])
        await dial(a, both, timeout_s=5)
        assert is_connected(a, b.get_id())


# ----------------------------------------------------------------- through gossiped ads


@asynccontextmanager
async def _gossiping(key_pair: KeyPair, network: str) -> AsyncIterator[IHost]:
    """A host that publishes its ad every second and dials the peers whose ads it hears."""
    seq = itertools.count(int(time.time() * 1000))
    async with running_host(key_pair, LISTEN) as host, trio.open_nursery() as nursery:

        async def make_ad() -> CapabilityAd:
            return CapabilityAd(network=network, addrs=full_addrs(host), ttl_s=30, seq=next(seq))

        gossip = AdGossip(host, Signer.from_libp2p(key_pair), Verifier(), AdBoard(), network, make_ad,
                          republish_s=1.0, on_evidence=lambda *_a: None)
        await nursery.start(gossip.run)
        yield host
        # Close the host before its pubsub: a peer's pubsub stream reaching a host whose
        # pubsub has stopped raises in the stream handler and takes the host down.
        with trio.CancelScope(shield=True):
            await host.close()
        nursery.cancel_scope.cancel()


async def _wait_connected(host: IHost, peer: ID, timeout_s: float) -> None:
    with trio.fail_after(timeout_s):
        while not is_connected(host, peer):  # noqa: ASYNC110 - libp2p offers no connect event here
            await trio.sleep(0.05)


async def _old_addr(key_pair: KeyPair) -> str:
    """Where a peer with ``key_pair`` listened in an earlier life (nothing listens there now)."""
    async with _host(key_pair) as earlier:
        return _addr(earlier)


async def test_restarted_peers_that_redialed_each_others_old_address_meet_through_fresh_ads() -> None:
    """A and B both restart on new ports while C stays; each first redials the other's stored
    (dead) address, as a restarted node does, then hears the other's fresh ad through C.

    py-libp2p blocked both peer IDs for 60 s after those failed dials and kept the dead
    addresses first in line, so A and B never met directly; now the ads bring them together.
    """
    network = f"t{secrets.token_hex(3)}"
    a_keys, b_keys = create_new_key_pair(), create_new_key_pair()
    old_a, old_b = await _old_addr(a_keys), await _old_addr(b_keys)
    b_id = ID.from_pubkey(b_keys.public_key)
    async with _gossiping(create_new_key_pair(), network) as c, _gossiping(a_keys, network) as a:
        with pytest.raises(PeerUnreachable):
            await dial(a, parse_peer_addr(old_b), timeout_s=3)
        await dial(a, parse_peer_addr(_addr(c)))
        async with _gossiping(b_keys, network) as b:
            with pytest.raises(PeerUnreachable):
                await dial(b, parse_peer_addr(old_a), timeout_s=3)
            await dial(b, parse_peer_addr(_addr(c)))
            await _wait_connected(a, b_id, timeout_s=15)  # an ad relayed by C made one dial the other


class _Subscription:
    """Stands in for a gossipsub subscription: hands the read loop the messages we queue."""

    def __init__(self) -> None:
        self.send, self._receive = trio.open_memory_channel[SimpleNamespace](16)

    async def get(self) -> SimpleNamespace:
        return await self._receive.receive()


async def test_an_ad_relayed_late_does_not_overwrite_the_newer_addresses() -> None:
    """Gossip can deliver a peer's older ad after its newer one: the store keeps the newer addresses."""
    network = f"t{secrets.token_hex(3)}"
    topic = ads_topic(network)
    b, c = Signer.generate(), Signer.generate()
    recorded: list[tuple[str, int]] = []

    async def never() -> CapabilityAd:
        raise AssertionError("not publishing in this test")

    def ad(signer: Signer, seq: int) -> SimpleNamespace:
        addr = f"/ip4/127.0.0.1/tcp/{_free_port()}/p2p/{signer.peer_id_b58}"
        body = CapabilityAd(network=network, addrs=[addr], ttl_s=30, seq=seq)
        return SimpleNamespace(from_id=signer.peer_id, data=seal(signer, body, topic))

    async with _host() as a, trio.open_nursery() as nursery:
        gossip = AdGossip(a, Signer.generate(), Verifier(), AdBoard(), network, never, republish_s=60.0,
                          on_evidence=lambda *_a: None, on_ad=lambda peer, got, _raw: recorded.append((peer, got.seq)))
        subscription = _Subscription()
        nursery.start_soon(gossip._read_loop, subscription, nursery)
        await subscription.send.send(ad(b, 20))
        await subscription.send.send(ad(b, 10))  # older, relayed late
        await subscription.send.send(ad(c, 1))  # processed after the late one: our sync point
        with trio.fail_after(5):
            while (c.peer_id_b58, 1) not in recorded:  # noqa: ASYNC110 - the sink is a plain callback
                await trio.sleep(0.01)
        assert recorded == [(b.peer_id_b58, 20), (c.peer_id_b58, 1)]
        nursery.cancel_scope.cancel()


def test_only_addresses_naming_the_peer_are_kept_from_an_ad() -> None:
    from peermind.node.p2p.host import addrs_of

    me = "12D3KooWDtaXV2cRp8gxRqErs5PGERLzQCiS4hntpNGjfJYNBzKa"
    other = "12D3KooWH3bjCG6jwuDn9vbkDcoBgE23f4Zroqo6F3dsJERfqwsF"
    listed = [f"/ip4/127.0.0.1/tcp/4001/p2p/{me}", f"/ip4/127.0.0.1/tcp/4002/p2p/{other}", "not an address"]
    assert addrs_of(me, listed) == [listed[0]]
