"""Yamux window credit in batches (node/p2p/yamux_credit.py), on two real hosts over TCP.

Streams of small length-prefixed messages (pubsub's framing) must arrive whole and in order,
a writer that outruns a pausing reader must block on the window and then finish, and the
reader must send far fewer WINDOW_UPDATE frames than the library's one per read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import pytest
import trio
from libp2p.abc import IHost, INetStream
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from libp2p.stream_muxer.yamux.yamux import YamuxStream
from libp2p.utils import encode_varint_prefixed, read_varint_prefixed_bytes
from peermind.node.p2p import yamux_credit
from peermind.node.p2p.host import dial, full_addrs, parse_peer_addr, running_host

pytestmark = pytest.mark.integration

SINK = TProtocol("/peermind-test/sink/1.0.0")
MESSAGES = [bytes([i % 251]) * (300 + (i * 37) % 1200) for i in range(400)]  # ~300 KB, more than a window


@contextmanager
def window_updates_counted() -> Iterator[list[int]]:
    """Every WINDOW_UPDATE increment any yamux stream of this process sends, in order."""
    sent: list[int] = []
    original = YamuxStream.send_window_update

    async def counting(self: YamuxStream, increment: int, skip_lock: bool = False) -> None:
        if increment > 0:
            sent.append(increment)
        await original(self, increment, skip_lock)

    YamuxStream.send_window_update = counting  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        YamuxStream.send_window_update = original  # type: ignore[method-assign]


@asynccontextmanager
async def two_hosts(received: list[bytes], pause_s: float, done: trio.Event) -> AsyncIterator[tuple[IHost, IHost]]:
    async def sink(stream: INetStream) -> None:
        await trio.sleep(pause_s)  # a busy reader: the writer runs into the window meanwhile
        for _ in MESSAGES:
            received.append(await read_varint_prefixed_bytes(stream))
        done.set()
        await stream.close()

    async with running_host(create_new_key_pair(), ["/ip4/127.0.0.1/tcp/0"]) as server, \
            running_host(create_new_key_pair(), ["/ip4/127.0.0.1/tcp/0"]) as client:
        server.set_stream_handler(SINK, sink)
        await dial(client, parse_peer_addr(full_addrs(server)[0]))
        yield server, client


async def _send_all(client: IHost, server: IHost) -> None:
    stream = await client.new_stream(server.get_id(), [SINK])
    for message in MESSAGES:
        await stream.write(encode_varint_prefixed(message))


@pytest.mark.parametrize("pause_s", [0.0, 1.0])
async def test_small_messages_arrive_whole_with_few_window_updates(pause_s: float) -> None:
    received: list[bytes] = []
    done = trio.Event()
    async with two_hosts(received, pause_s, done) as (server, client):
        with window_updates_counted() as sent, trio.fail_after(30):
            await _send_all(client, server)
            await done.wait()
    assert received == MESSAGES
    total = sum(len(encode_varint_prefixed(m)) for m in MESSAGES)
    assert len(sent) <= total // (256 * 1024 // yamux_credit.CREDIT_BATCH_DIVISOR) + 4
    assert all(increment >= 32 * 1024 for increment in sent)


async def test_the_library_rule_sends_an_update_per_read() -> None:
    """The comparison that makes the test above mean something: without the batching, one update per read."""
    received: list[bytes] = []
    done = trio.Event()
    async with two_hosts(received, 0.0, done) as (server, client):
        yamux_credit.uninstall()  # after the hosts are built: building one installs the batching
        try:
            with window_updates_counted() as sent, trio.fail_after(30):
                await _send_all(client, server)
                await done.wait()
        finally:
            yamux_credit.install()
    assert received == MESSAGES
    assert len(sent) >= len(MESSAGES)
