"""A stream to an unconnected peer dials the addresses of its ad, not what the peerstore holds.

Real py-libp2p hosts on loopback. The peerstore of the asking host is given an address
where nothing listens, as identify leaves a NATed peer's direct addresses there; the
address source (the daemon: the peer's signed ad) knows where the peer really is. Before
``reach``, the swarm dialled the peerstore's address and the question failed "unreachable"
(CI cc6: ``bench relay``'s warm-up question to a relayed-only peer).
"""

from __future__ import annotations

import multiaddr
import pytest
import trio
from libp2p.abc import INetStream
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from peermind.node.p2p.host import (
    PeerUnreachable,
    full_addrs,
    is_connected,
    parse_peer_addr,
    running_host,
)
from peermind.node.p2p.pipelined import open_with_frame
from peermind.node.p2p.reach import set_address_source
from peermind.protocol import frame_bytes, read_frame, write_frame

pytestmark = pytest.mark.integration

ECHO = TProtocol("/peermind-test/echo/1.0.0")
LISTEN = ["/ip4/127.0.0.1/tcp/0"]
NOBODY = multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/1")  # refused at once


async def _echo(stream: INetStream) -> None:
    data = await read_frame(stream, timeout_s=5)
    await write_frame(stream, data[::-1], timeout_s=5)
    await stream.close()


async def _ask(client_host: object, server: ID) -> bytes:
    stream = await open_with_frame(client_host, server, ECHO, frame_bytes(b"hello"))  # type: ignore[arg-type]
    try:
        return await read_frame(stream, timeout_s=5)
    finally:
        await stream.close()


async def test_an_unconnected_peer_is_dialled_where_its_ad_says_not_at_the_peerstores_address() -> None:
    async with running_host(create_new_key_pair(), LISTEN) as server, running_host(create_new_key_pair(), LISTEN) as client:
        server.set_stream_handler(ECHO, _echo)
        server_id = server.get_id()
        client.get_peerstore().add_addrs(server_id, [NOBODY], 3600)
        with trio.fail_after(10), pytest.raises(PeerUnreachable):  # the swarm alone: the peerstore's address
            await _ask(client, server_id)
        asked: list[ID] = []

        def ad_addresses(peer: ID) -> list[multiaddr.Multiaddr]:
            asked.append(peer)
            return parse_peer_addr(full_addrs(server)[0]).addrs if peer == server_id else []

        set_address_source(client, ad_addresses)
        client.get_peerstore().add_addrs(server_id, [NOBODY], 3600)
        with trio.fail_after(10):
            assert await _ask(client, server_id) == b"olleh"
        assert asked == [server_id] and is_connected(client, server_id)
        with trio.fail_after(10):  # connected now: no second lookup or dial
            assert await _ask(client, server_id) == b"olleh"
        assert asked == [server_id]


async def test_concurrent_streams_to_an_unconnected_peer_share_one_dial() -> None:
    async with running_host(create_new_key_pair(), LISTEN) as server, running_host(create_new_key_pair(), LISTEN) as client:
        server.set_stream_handler(ECHO, _echo)
        server_id = server.get_id()
        lookups = 0

        def ad_addresses(peer: ID) -> list[multiaddr.Multiaddr]:
            nonlocal lookups
            lookups += 1
            return parse_peer_addr(full_addrs(server)[0]).addrs

        set_address_source(client, ad_addresses)
        replies: list[bytes] = []

        async def ask() -> None:
            replies.append(await _ask(client, server_id))

        with trio.fail_after(15):
            async with trio.open_nursery() as nursery:
                for _ in range(4):
                    nursery.start_soon(ask)
        assert replies == [b"olleh"] * 4 and lookups == 1
        assert len(client.get_network().get_connections(server_id)) == 1


async def test_a_peer_without_ad_addresses_is_left_to_the_peerstore() -> None:
    async with running_host(create_new_key_pair(), LISTEN) as server, running_host(create_new_key_pair(), LISTEN) as client:
        server.set_stream_handler(ECHO, _echo)
        server_id = server.get_id()
        set_address_source(client, lambda _peer: [])
        client.get_peerstore().add_addrs(server_id, parse_peer_addr(full_addrs(server)[0]).addrs, 3600)
        with trio.fail_after(10):
            assert await _ask(client, server_id) == b"olleh"
