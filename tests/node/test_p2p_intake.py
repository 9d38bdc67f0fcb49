"""RoomyPubsub: a burst of gossip reaches a subscriber that is not reading at that moment.

Real hosts over loopback TCP. py-libp2p 0.8.1's own subscription channel holds 32 messages
and drops the rest after marking them seen (so later copies are ignored too).
"""

from __future__ import annotations

import pytest
import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.io.exceptions import IncompleteReadError
from libp2p.tools.anyio_service import background_trio_service
from libp2p.utils import encode_varint_prefixed
from libp2p.utils.varint import read_varint_prefixed_bytes_limited
from peermind.node.p2p.ads import GOSSIP_PROTOCOLS
from peermind.node.p2p.flood import FloodPublishGossipSub
from peermind.node.p2p.host import dial, full_addrs, parse_peer_addr, running_host
from peermind.node.p2p.intake import BufferedReads, RoomyPubsub

TOPIC = "burst"
BURST = 100  # three times the library's 32


def _router() -> FloodPublishGossipSub:
    return FloodPublishGossipSub(GOSSIP_PROTOCOLS, flood_topics=[TOPIC], max_age_s=60.0,  # type: ignore[arg-type]
                                 degree=6, degree_low=4, degree_high=12, heartbeat_interval=1,
                                 max_messages_per_topic_per_second=1000.0)


async def test_a_burst_larger_than_the_librarys_buffer_all_reaches_an_idle_reader() -> None:
    async with running_host(create_new_key_pair(), ["/ip4/127.0.0.1/tcp/0"]) as a, \
            running_host(create_new_key_pair(), ["/ip4/127.0.0.1/tcp/0"]) as b:
        ra, rb = _router(), _router()
        pa, pb = RoomyPubsub(a, ra), RoomyPubsub(b, rb)
        async with background_trio_service(pa), background_trio_service(ra), \
                background_trio_service(pb), background_trio_service(rb):
            await pa.wait_until_ready()
            await pb.wait_until_ready()
            await pa.subscribe(TOPIC)
            inbox = await pb.subscribe(TOPIC)
            await dial(a, parse_peer_addr(full_addrs(b)[0]))
            with trio.fail_after(15):
                while b.get_id() not in pa.peer_topics.get(TOPIC, set()):  # noqa: ASYNC110 - library state
                    await trio.sleep(0.05)
            for i in range(BURST):  # b's reader is not reading meanwhile
                await pa.publish(TOPIC, f"m{i}".encode())
            got: list[bytes] = []
            with trio.move_on_after(10):
                while len(got) < BURST:
                    got.append(bytes((await inbox.get()).data))
            assert got == [f"m{i}".encode() for i in range(BURST)]
            with trio.CancelScope(shield=True):
                await a.close()
                await b.close()


class _ChunkedStream:
    """A stream that hands out its bytes in the given pieces, then end of stream (b"")."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = list(pieces)
        self.reads = 0
        self.muxed_conn = "the stream's own attribute"

    async def read(self, n: int | None = None) -> bytes:
        self.reads += 1
        if not self.pieces:
            return b""
        piece = self.pieces.pop(0)
        if n is not None and 0 <= n < len(piece):
            self.pieces.insert(0, piece[n:])
            piece = piece[:n]
        return piece


async def test_buffered_reads_give_the_library_reader_every_message_whole_in_order() -> None:
    messages = [bytes([i]) * (i * 53 % 700 + 1) for i in range(60)]  # 1-byte and 2-byte varint prefixes
    wire = b"".join(encode_varint_prefixed(m) for m in messages)
    pieces = [wire[i:i + 97] for i in range(0, len(wire), 97)]  # cuts inside prefixes and bodies
    stream = _ChunkedStream(pieces)
    reader = BufferedReads(stream, chunk=4096)  # type: ignore[arg-type]
    got = [await read_varint_prefixed_bytes_limited(reader, 10_000) for _ in messages]  # type: ignore[arg-type]
    assert got == messages
    assert stream.reads == len(pieces)  # one stream read per arrival, not per byte of a prefix
    assert reader.muxed_conn == "the stream's own attribute"
    assert await reader.read(1) == b""  # end of stream surfaces once the buffer is empty
    with pytest.raises(IncompleteReadError):
        await read_varint_prefixed_bytes_limited(BufferedReads(_ChunkedStream([wire[:1]])), 10_000)  # type: ignore[arg-type]
