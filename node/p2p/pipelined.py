"""Open a stream with its first frame sent in the same write as the protocol negotiation.

py-libp2p's ``host.new_stream`` negotiates multistream-select in two round trips before
the first byte of a request moves: the header, then the protocol, each waiting for its
echo. On a 2-core host every round trip waits for the other process's event loop to be
scheduled (21 ms p50 per stream under load, measured by ``peermind bench node``). The
listener reads the negotiation messages one at a time and leaves what follows in the
stream's buffer for the protocol handler, so a caller that knows the peer serves the
protocol (it holds the peer's ad) sends header, protocol and request together and reads
the two echoes before the reply: one round trip instead of three, the same bytes on the
wire (go-libp2p's "lazy" dialers do the same).
"""

from __future__ import annotations

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.utils import encode_delim, read_varint_prefixed_bytes_limited

from .host import PeerUnreachable
from .reach import reach

MULTISTREAM = "/multistream/1.0.0"
MAX_NEGOTIATION_MESSAGE = 1024  # a protocol id echoed back; anything longer is not multistream


async def open_with_frame(host: IHost, peer: ID, protocol: TProtocol, first: bytes) -> INetStream:
    """A stream to ``peer`` speaking ``protocol`` whose first bytes (a whole frame) are already sent.

    Raises ``PeerUnreachable`` when no stream opens or the peer refuses the protocol; the
    stream is reset then. An unconnected peer is dialled at its ad's addresses first (reach.py).
    """
    await reach(host, peer)
    try:
        stream = await host.get_network().new_stream(peer)
    except Exception as exc:
        raise PeerUnreachable(f"cannot open a stream to {peer.to_base58()}: {exc}") from exc
    try:
        await stream.write(encode_delim(MULTISTREAM.encode()) + encode_delim(protocol.encode()) + first)
        header = await _read_message(stream)
        if header != MULTISTREAM:
            raise PeerUnreachable(f"{peer.to_base58()} does not speak multistream-select ({header[:40]!r})")
        answer = await _read_message(stream)
        if answer != protocol:
            raise PeerUnreachable(f"{peer.to_base58()} does not serve {protocol} (answered {answer[:40]!r})")
    except BaseException as exc:
        with trio.CancelScope(shield=True), trio.move_on_after(1):
            try:
                await stream.reset()
            except Exception:
                pass
        if isinstance(exc, Exception) and not isinstance(exc, PeerUnreachable):
            raise PeerUnreachable(f"cannot open a stream to {peer.to_base58()}: {type(exc).__name__}: {exc}") from exc
        raise
    stream.set_protocol(protocol)
    return stream


async def _read_message(stream: INetStream) -> str:
    """One newline-terminated, length-prefixed negotiation message."""
    data = await read_varint_prefixed_bytes_limited(stream, MAX_NEGOTIATION_MESSAGE)
    if not data.endswith(b"\n"):
        raise PeerUnreachable("a multistream-select message without its newline")
    return data[:-1].decode(errors="replace")
