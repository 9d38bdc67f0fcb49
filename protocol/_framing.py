"""Length-prefixed frames over any byte stream (libp2p yamux streams in practice).

Frame = 4-byte big-endian unsigned length + payload. We run our own read
loop with a cap instead of libp2p's varint helper (which gives up on large
messages), check the declared length before reading the payload, and put
the whole frame under one deadline so a peer trickling bytes cannot hold a
handler forever. libp2p is not imported: its end-of-stream exceptions
subclass ``EOFError``, and any other read failure is reported typed too.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Protocol

import trio

from ._envelope import DEFAULT_MAX_FRAME
from ._errors import FrameTimeout, FrameTooLarge, FrameWriteError, TruncatedFrame

HEADER = struct.Struct(">I")
DEFAULT_TIMEOUT_S = 30.0
_EOF_NAMES = frozenset({"MuxedStreamEOF", "StreamEOF", "EndOfChannel", "IncompleteReadError"})

FrameTap = Callable[[bytes], None]
_taps: list[FrameTap] = []


def add_frame_tap(tap: FrameTap) -> None:
    """Call ``tap(payload)`` with every payload this process sends (wire audits; see ``tap_frame``)."""
    _taps.append(tap)


def frame_bytes(data: bytes) -> bytes:
    """One frame as bytes: the 4-byte big-endian length, then ``data``."""
    return HEADER.pack(len(data)) + data


def split_frames(blob: bytes) -> list[bytes]:
    """The payloads of consecutive frames in ``blob`` (a recorded stream or a wire-tap file);
    a truncated last frame is left out."""
    out, at = [], 0
    while at + HEADER.size <= len(blob):
        (n,) = HEADER.unpack_from(blob, at)
        if at + HEADER.size + n > len(blob):
            break
        out.append(blob[at + HEADER.size: at + HEADER.size + n])
        at += HEADER.size + n
    return out


def tap_frame(data: bytes) -> None:
    """Show ``data`` to the taps: ``write_frame`` does for every frame, gossip senders for their messages."""
    for tap in _taps:
        tap(data)


class ReadableStream(Protocol):
    async def read(self, n: int) -> bytes: ...


class WritableStream(Protocol):
    async def write(self, data: bytes) -> None: ...


def _is_eof(exc: BaseException) -> bool:
    return isinstance(exc, EOFError) or type(exc).__name__ in _EOF_NAMES


def _truncated(buf: bytearray, what: str, cause: str) -> TruncatedFrame:
    if not buf:
        return TruncatedFrame(f"stream closed before a frame started ({cause})", received=0)
    return TruncatedFrame(
        f"stream ended inside the frame {what} after {len(buf)} bytes ({cause})",
        received=len(buf),
    )


async def _read_exactly(stream: ReadableStream, n: int, buf: bytearray, what: str) -> None:
    """Append exactly ``n`` bytes to ``buf`` or raise TruncatedFrame."""
    target = len(buf) + n
    while len(buf) < target:
        try:
            chunk = await stream.read(target - len(buf))
        except Exception as exc:
            cause = "end of stream" if _is_eof(exc) else f"{type(exc).__name__}: {exc}"
            raise _truncated(buf, what, cause) from exc
        if not chunk:
            raise _truncated(buf, what, "end of stream")
        if len(chunk) > target - len(buf):
            raise TruncatedFrame(  # a stream must not return more than asked
                f"stream returned {len(chunk)} bytes when {target - len(buf)} were asked",
                received=len(buf),
            )
        buf += chunk


async def read_frame(
    stream: ReadableStream,
    *,
    max_bytes: int = DEFAULT_MAX_FRAME,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> bytes:
    """Read one frame's payload; the whole frame must arrive within ``timeout_s``."""
    buf = bytearray()
    try:
        with trio.fail_after(timeout_s):
            await _read_exactly(stream, HEADER.size, buf, "header")
            (length,) = HEADER.unpack(buf)
            if length > max_bytes:
                raise FrameTooLarge(
                    f"peer announced a {length}-byte frame; the limit is {max_bytes} bytes"
                )
            await _read_exactly(stream, length, buf, "payload")
    except trio.TooSlowError:
        raise FrameTimeout(
            f"no complete frame within {timeout_s} s ({len(buf)} bytes received)"
        ) from None
    return bytes(buf[HEADER.size :])


async def write_frame(
    stream: WritableStream,
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_FRAME,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Write one frame (header and payload in a single write) within ``timeout_s``."""
    if len(data) > max_bytes:
        raise FrameTooLarge(f"refusing to send a {len(data)}-byte frame (limit {max_bytes})")
    frame = frame_bytes(data)
    tap_frame(data)
    try:
        with trio.fail_after(timeout_s):
            await stream.write(frame)
    except trio.TooSlowError:
        raise FrameTimeout(f"writing a {len(data)}-byte frame took over {timeout_s} s") from None
    except Exception as exc:
        raise FrameWriteError(
            f"stream failed while writing a frame: {type(exc).__name__}: {exc}"
        ) from exc
