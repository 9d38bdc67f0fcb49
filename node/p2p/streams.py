"""Request/response over libp2p streams with signed envelopes: one frame each way.

Shared by the task protocol and the training protocol. The server side wraps every
handler so that nothing raised by a peer's bytes can escape into the host (a raising
stream handler kills a py-libp2p host), and every read runs under a timeout.

A reply may also be streamed: the handler returns a ``StreamedReply`` whose parts (each a
signed frame) go out as they are produced, then its final message; the caller passes
``on_part`` to ``call`` to receive the parts, under the same deadline as the whole call.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio
from libp2p.abc import IHost, INetStream
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from peermind.protocol import (
    Envelope,
    FrameTimeout,
    FrameTooLarge,
    Message,
    ProtocolError,
    Signer,
    TruncatedFrame,
    Verifier,
    frame_bytes,
    read_frame,
    seal,
    tap_frame,
    write_frame,
)
from peermind.trust import EvidenceSink, ViolationSource

from ..errors import NodeError
from .evidence import protocol_evidence
from .pipelined import open_with_frame

log = logging.getLogger("peermind.node.streams")

REQUEST_READ_TIMEOUT_S = 10.0
"""How long an inbound request frame may take to arrive. Far below the task deadline:
a well-behaved peer sends its whole request at once (a 4 MiB frame takes ~0.2 s on
loopback), and a peer that opens streams and then trickles or withholds bytes must not
pin a handler for the full task deadline."""


class PeerCallError(NodeError):
    """A request to a peer did not produce a valid reply."""


class PeerTimeout(PeerCallError):
    """The peer did not answer within the deadline."""


class PeerFailed(PeerCallError):
    """The stream broke mid-call: the peer died, reset, or closed early."""


class UnexpectedMessage(ProtocolError):
    """A verified envelope whose body is not a message this protocol serves."""


class BadReply(PeerCallError):
    """The peer replied with bytes that failed verification."""

    def __init__(self, message: str, cause: ProtocolError) -> None:
        super().__init__(message)
        self.cause = cause


class RequesterGone(NodeError):
    """A streamed reply's part could not be delivered: the requester left or stopped reading."""


PartSender = Callable[[Message], Awaitable[None]]
"""Sends one part of a streamed reply; raises ``RequesterGone`` when it cannot."""
PartHandler = Callable[[Envelope], Awaitable[bool]]
"""Caller side: True if the verified envelope was a part (keep reading), False if it is the reply."""


@dataclass(frozen=True)
class StreamedReply:
    """A reply sent as parts while it is produced, then one final message.

    ``produce(send_part)`` does the work, sending parts as they are ready, and returns the
    final message (it should turn ``RequesterGone`` into a final message of its own).
    """

    produce: Callable[[PartSender], Awaitable[Message]]


Handler = Callable[[Envelope, str], Awaitable[Message | StreamedReply | None]]
AfterReply = Callable[[Envelope, str, Message | None], None]


class StreamEndpoint:
    """Serves one protocol ID and calls it on peers, with one verifier for both."""

    def __init__(
        self,
        host: IHost,
        protocol_id: str,
        signer: Signer,
        verifier: Verifier,
        *,
        max_frame_bytes: int,
        read_timeout_s: float,
        on_evidence: EvidenceSink,
    ) -> None:
        self._host = host
        self._me = host.get_id().to_base58()
        self.protocol_id = TProtocol(protocol_id)
        self._signer = signer
        self._verifier = verifier
        self._max = max_frame_bytes
        self._read_timeout = read_timeout_s
        self._request_timeout = min(read_timeout_s, REQUEST_READ_TIMEOUT_S)
        self._on_evidence = on_evidence
        self.in_flight = 0
        """Inbound requests being handled or answered; a graceful stop waits for 0."""

    def serve(self, handler: Handler, *, after_reply: AfterReply | None = None,
              turn_away: Callable[[str], bool] | None = None,
              hold_away: Callable[[str], Awaitable[None]] | None = None) -> None:
        """Register ``handler(envelope, peer_b58) -> reply | None`` for this protocol.

        ``after_reply(envelope, peer_b58, reply)`` runs once the reply is on the wire:
        bookkeeping (task log, metrics) then costs the requester no latency. It also runs
        when writing the reply failed, since the work was done. ``turn_away(peer_b58)``
        True resets the stream before reading anything: a banned peer that keeps asking
        costs no frame read, signature check or signed refusal. ``hold_away(peer_b58)`` returns
        when such a stream may be reset (a banned flooder's is held unread for a while, so it
        cannot open the next one as fast as resets come back).
        """

        async def on_stream(stream: INetStream) -> None:
            peer = stream.muxed_conn.peer_id
            peer_b58 = peer.to_base58()
            if turn_away is not None and turn_away(peer_b58):
                if hold_away is not None:
                    await hold_away(peer_b58)
                await _reset(stream)
                return
            self.in_flight += 1
            try:
                data = await read_frame(stream, max_bytes=self._max, timeout_s=self._request_timeout)
                envelope = self._verifier.open(data, expected_sender=peer.to_bytes(), expected_recipient=self._me)
                reply = await handler(envelope, peer_b58)
                if isinstance(reply, StreamedReply):
                    reply = await reply.produce(self._part_sender(stream, peer_b58))
                try:
                    if reply is not None:
                        frame = seal(self._signer, reply, peer_b58)
                        await write_frame(stream, frame, max_bytes=self._max, timeout_s=self._read_timeout)
                    await stream.close()
                except Exception as exc:  # the requester left or stopped reading: not a violation
                    log.info("could not deliver a reply", extra={"peer": peer_b58, "error": type(exc).__name__})
                    await _reset(stream)
                finally:  # also when the requester vanished: the work was done either way
                    if after_reply is not None:
                        _run_hook(after_reply, envelope, peer_b58, reply)
            except ProtocolError as exc:
                self._report(peer_b58, exc, ViolationSource.REQUEST)
                log.warning("rejected a request", extra={"peer": peer_b58, "error": type(exc).__name__})
                await _reset(stream)
            except Exception:  # never let a peer's bytes crash the host (trap 1)
                log.exception("stream handler failed", extra={"peer": peer_b58})
                await _reset(stream)
            finally:
                self.in_flight -= 1

        self._host.set_stream_handler(self.protocol_id, on_stream)

    def _part_sender(self, stream: INetStream, peer_b58: str) -> PartSender:
        async def send_part(part: Message) -> None:
            try:
                frame = seal(self._signer, part, peer_b58)
                await write_frame(stream, frame, max_bytes=self._max, timeout_s=self._read_timeout)
            except Exception as exc:  # the requester left or stopped reading: not a violation
                raise RequesterGone(f"{peer_b58} stopped reading a streamed reply: {type(exc).__name__}") from exc

        return send_part

    async def call(self, peer: ID, body: Message, *, timeout_s: float,
                   on_part: PartHandler | None = None) -> Envelope:
        """Send ``body`` to ``peer`` and return its verified reply envelope.

        With ``on_part``, every verified envelope is first offered to it: parts of a streamed
        reply are consumed there (it returns True) until the final reply (False); all of it
        within ``timeout_s``. A ``ProtocolError`` it raises is treated like a bad reply.
        """
        peer_b58 = peer.to_base58()
        frame = seal(self._signer, body, peer_b58)
        stream: INetStream | None = None
        deadline = trio.current_time() + timeout_s
        try:
            with trio.fail_at(deadline):
                if len(frame) > self._max:
                    raise FrameTooLarge(f"refusing to send a {len(frame)}-byte frame (limit {self._max})")
                tap_frame(frame)
                # the request rides with the protocol negotiation: one round trip, not three
                stream = await open_with_frame(self._host, peer, self.protocol_id, frame_bytes(frame))
                while True:
                    data = await read_frame(stream, max_bytes=self._max,
                                            timeout_s=max(deadline - trio.current_time(), 0.001))
                    envelope = self._open_reply(data, peer, peer_b58)
                    if on_part is None or not await on_part(envelope):
                        break
        except trio.TooSlowError as exc:
            if stream is not None:
                await _reset(stream)
            raise PeerTimeout(f"{peer_b58} did not answer within {timeout_s:.1f}s") from exc
        except NodeError:  # unreachable, an invalid reply (evidence recorded), or on_part's own error
            if stream is not None:
                await _reset(stream)
            raise
        except trio.Cancelled:  # the caller gave up: tell the peer at once, so it stops working for us
            if stream is not None:
                with trio.CancelScope(shield=True):
                    await _reset(stream)
            raise
        except ProtocolError as exc:
            if stream is not None:
                await _reset(stream)
            if isinstance(exc, FrameTimeout):
                raise PeerTimeout(f"{peer_b58} did not answer within {timeout_s:.1f}s") from exc
            if isinstance(exc, TruncatedFrame):
                raise PeerFailed(f"{peer_b58} dropped the call: {exc}") from exc
            self._report(peer_b58, exc, ViolationSource.REPLY)
            raise BadReply(f"{peer_b58} sent an invalid reply: {exc}", exc) from exc
        except Exception as exc:  # stream reset, connection closed, ...
            if stream is not None:
                await _reset(stream)
            raise PeerFailed(f"call to {peer_b58} failed: {type(exc).__name__}: {exc}") from exc
        await _close(stream)
        return envelope

    def _open_reply(self, data: bytes, peer: ID, peer_b58: str) -> Envelope:
        try:
            return self._verifier.open(data, expected_sender=peer.to_bytes(), expected_recipient=self._me)
        except ProtocolError as exc:
            self._report(peer_b58, exc, ViolationSource.REPLY)
            raise BadReply(f"{peer_b58} sent an invalid reply: {exc}", exc) from exc

    def _report(self, peer_b58: str, exc: ProtocolError, source: ViolationSource) -> None:
        event = protocol_evidence(peer_b58, exc, source)
        if event is not None:
            self._on_evidence(event)


def _run_hook(hook: AfterReply, envelope: Envelope, peer: str, reply: Message | None) -> None:
    try:
        hook(envelope, peer, reply)
    except Exception:  # bookkeeping must never turn a delivered reply into a failure
        log.exception("after-reply hook failed", extra={"peer": peer})


async def _close(stream: INetStream) -> None:
    """Close our write side; the reply is already in hand, so a failure here is not the caller's."""
    with trio.move_on_after(1):
        try:
            await stream.close()
        except Exception:
            pass


async def _reset(stream: INetStream) -> None:
    with trio.move_on_after(1):
        try:
            await stream.reset()
        except Exception:
            pass
