"""Opening a stream with the request sent alongside the protocol negotiation, on two real hosts.

``open_with_frame`` writes multistream-select's header, the protocol and the first frame in
one go; the listening host (stock py-libp2p) must still hand the frame whole to the protocol's
handler, and a protocol the peer does not serve must be a typed ``PeerUnreachable``.
"""

from __future__ import annotations

import pytest
import trio
from libp2p.abc import INetStream
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from peermind.node.p2p.host import PeerUnreachable, dial, full_addrs, parse_peer_addr, running_host
from peermind.node.p2p.pipelined import open_with_frame
from peermind.protocol import frame_bytes, read_frame, write_frame

pytestmark = pytest.mark.integration

ECHO = TProtocol("/peermind-test/echo/1.0.0")


async def test_the_first_frame_reaches_the_handler_and_the_reply_comes_back() -> None:
    async def echo(stream: INetStream) -> None:
        data = await read_frame(stream, timeout_s=5)
        await write_frame(stream, data[::-1], timeout_s=5)
        await stream.close()

    async with running_host(create_new_key_pair(), ["/ip4/127.0.0.1/tcp/0"]) as server, \
            running_host(create_new_key_pair(), ["/ip4/127.0.0.1/tcp/0"]) as client:
        server.set_stream_handler(ECHO, echo)
        await dial(client, parse_peer_addr(full_addrs(server)[0]))
        for payload in (b"hello", b"x" * 200_000):  # one small frame, one spanning many yamux frames
            with trio.fail_after(10):
                stream = await open_with_frame(client, server.get_id(), ECHO, frame_bytes(payload))
                assert stream.get_protocol() == ECHO
                assert await read_frame(stream, timeout_s=5) == payload[::-1]
                await stream.close()


async def test_a_protocol_the_peer_does_not_serve_is_unreachable() -> None:
    async with running_host(create_new_key_pair(), ["/ip4/127.0.0.1/tcp/0"]) as server, \
            running_host(create_new_key_pair(), ["/ip4/127.0.0.1/tcp/0"]) as client:
        await dial(client, parse_peer_addr(full_addrs(server)[0]))
        with trio.fail_after(10), pytest.raises(PeerUnreachable, match="does not serve"):
            await open_with_frame(client, server.get_id(), ECHO, frame_bytes(b"hello"))
