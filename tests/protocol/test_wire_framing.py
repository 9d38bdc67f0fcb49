"""Framing: fragmented reads, EOF styles, deadlines, caps, over real trio streams too."""

from __future__ import annotations

import struct

import pytest
import trio
import trio.testing
from peermind.protocol import (
    DEFAULT_MAX_FRAME,
    FrameTimeout,
    FrameTooLarge,
    FrameWriteError,
    TruncatedFrame,
    read_frame,
    write_frame,
)


class ScriptedStream:
    """Returns the scripted chunks one per read (never more than asked), then ends."""

    def __init__(self, chunks: list[bytes], end: BaseException | None = None) -> None:
        self._buf = b"".join(chunks)
        self._sizes = [len(c) for c in chunks]
        self._end = end
        self.asked: list[int] = []
        self.written: list[bytes] = []

    async def read(self, n: int) -> bytes:
        self.asked.append(n)
        await trio.lowlevel.checkpoint()
        if not self._buf:
            if self._end is not None:
                raise self._end
            return b""
        size = min(n, self._sizes.pop(0) if self._sizes else n)
        chunk, self._buf = self._buf[:size], self._buf[size:]
        return chunk

    async def write(self, data: bytes) -> None:
        await trio.lowlevel.checkpoint()
        self.written.append(data)


class TrioStreamAdapter:
    """``read``/``write`` over a trio Stream (the shape of a libp2p stream)."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream

    async def read(self, n: int) -> bytes:
        return await self._stream.receive_some(n)

    async def write(self, data: bytes) -> None:
        await self._stream.send_all(data)


def framed(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


# Class names libp2p uses; defined here so the framing code is tested without libp2p.
class MuxedStreamEOF(Exception):  # noqa: N818 - mirrors libp2p's name
    pass


class StreamEOF(EOFError):
    pass


async def test_reads_one_frame_in_one_piece() -> None:
    stream = ScriptedStream([framed(b"hello")])
    assert await read_frame(stream, max_bytes=100, timeout_s=1) == b"hello"


async def test_reassembles_fragmented_reads() -> None:
    data = framed(b"x" * 1000)
    stream = ScriptedStream([data[i : i + 7] for i in range(0, len(data), 7)])
    assert await read_frame(stream, max_bytes=2000, timeout_s=1) == b"x" * 1000
    assert max(stream.asked) <= 1000  # never asks past the frame


async def test_reads_consecutive_frames_without_overreading() -> None:
    stream = ScriptedStream([framed(b"one") + framed(b"two") + framed(b"")])
    assert await read_frame(stream, max_bytes=10, timeout_s=1) == b"one"
    assert await read_frame(stream, max_bytes=10, timeout_s=1) == b"two"
    assert await read_frame(stream, max_bytes=10, timeout_s=1) == b""


async def test_oversize_header_rejected_before_reading_payload() -> None:
    stream = ScriptedStream([struct.pack(">I", 2**32 - 1) + b"x" * 10])
    with pytest.raises(FrameTooLarge, match="4294967295"):
        await read_frame(stream, max_bytes=DEFAULT_MAX_FRAME, timeout_s=1)
    assert stream.asked == [4]


async def test_clean_eof_at_frame_boundary() -> None:
    with pytest.raises(TruncatedFrame) as info:
        await read_frame(ScriptedStream([]), max_bytes=10, timeout_s=1)
    assert info.value.received == 0


@pytest.mark.parametrize(
    "end", [None, EOFError(), StreamEOF(), MuxedStreamEOF(), ConnectionResetError("reset")],
    ids=["empty-read", "EOFError", "StreamEOF", "MuxedStreamEOF-by-name", "reset"],
)
async def test_eof_mid_header_and_mid_payload(end: BaseException | None) -> None:
    with pytest.raises(TruncatedFrame) as info:
        await read_frame(ScriptedStream([b"\x00\x00"], end=end), max_bytes=10, timeout_s=1)
    assert info.value.received == 2
    with pytest.raises(TruncatedFrame) as info:
        await read_frame(ScriptedStream([framed(b"abcdef")[:7]], end=end), max_bytes=10,
                         timeout_s=1)
    assert info.value.received == 7


async def test_stream_returning_more_than_asked_is_rejected() -> None:
    class Greedy:
        async def read(self, n: int) -> bytes:
            return b"\x00" * (n + 1)

    with pytest.raises(TruncatedFrame):
        await read_frame(Greedy(), max_bytes=10, timeout_s=1)


async def test_silent_peer_times_out(autojump_clock: trio.abc.Clock) -> None:
    class Silent:
        async def read(self, n: int) -> bytes:
            await trio.sleep_forever()
            raise AssertionError("unreachable")

    with pytest.raises(FrameTimeout):
        await read_frame(Silent(), max_bytes=10, timeout_s=5)


async def test_trickling_peer_hits_the_whole_frame_deadline(autojump_clock: trio.abc.Clock) -> None:
    class Trickle:
        async def read(self, n: int) -> bytes:
            await trio.sleep(1)  # one byte per second: each read is "fast"
            return b"\x00"

    start = trio.current_time()
    with pytest.raises(FrameTimeout):
        await read_frame(Trickle(), max_bytes=100, timeout_s=3)
    assert trio.current_time() - start == pytest.approx(3)


async def test_write_frame_sends_header_and_payload_in_one_write() -> None:
    stream = ScriptedStream([])
    await write_frame(stream, b"payload", max_bytes=100, timeout_s=1)
    assert stream.written == [framed(b"payload")]


async def test_write_refuses_oversize() -> None:
    stream = ScriptedStream([])
    with pytest.raises(FrameTooLarge):
        await write_frame(stream, b"x" * 11, max_bytes=10, timeout_s=1)
    assert stream.written == []


async def test_write_failure_is_typed() -> None:
    class Broken:
        async def write(self, data: bytes) -> None:
            raise ConnectionResetError("gone")

    with pytest.raises(FrameWriteError, match="gone"):
        await write_frame(Broken(), b"x", max_bytes=10, timeout_s=1)


async def test_write_timeout(autojump_clock: trio.abc.Clock) -> None:
    class Stalled:
        async def write(self, data: bytes) -> None:
            await trio.sleep_forever()

    with pytest.raises(FrameTimeout):
        await write_frame(Stalled(), b"x", max_bytes=10, timeout_s=5)


async def test_round_trip_over_trio_memory_streams_with_large_frame() -> None:
    left, right = trio.testing.memory_stream_pair()
    sender, receiver = TrioStreamAdapter(left), TrioStreamAdapter(right)
    big = bytes(range(256)) * (5 * 4096)  # 5 MiB
    received: list[bytes] = []

    async def reader() -> None:
        received.append(await read_frame(receiver, max_bytes=6 << 20, timeout_s=10))
        received.append(await read_frame(receiver, max_bytes=6 << 20, timeout_s=10))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await write_frame(sender, big, max_bytes=6 << 20, timeout_s=10)
        await write_frame(sender, b"small", max_bytes=6 << 20, timeout_s=10)
    assert received == [big, b"small"]


async def test_eof_mid_frame_over_trio_memory_streams() -> None:
    left, right = trio.testing.memory_stream_pair()
    await left.send_all(framed(b"abcdef")[:6])
    await left.aclose()
    with pytest.raises(TruncatedFrame) as info:
        await read_frame(TrioStreamAdapter(right), max_bytes=100, timeout_s=5)
    assert info.value.received == 6
