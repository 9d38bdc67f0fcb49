"""Real libp2p hosts (TCP loopback, Noise, yamux): framing and envelopes end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import multiaddr
import pytest
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.network.config import ConnectionConfig
from libp2p.peer.peerinfo import PeerInfo
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from peermind.protocol import (
    FL_PROTOCOL_ID,
    TASK_PROTOCOL_ID,
    PeerMismatch,
    ProtocolError,
    Signer,
    TaskRequest,
    TaskResult,
    TrainMessage,
    TruncatedFrame,
    Verifier,
    read_frame,
    seal,
    write_frame,
)

pytestmark = pytest.mark.integration
LISTEN = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
FL_MAX = 16 << 20


def make_host(key_pair: KeyPair) -> Any:
    noise = NoiseTransport(key_pair, noise_privkey=create_x25519_key_pair().private_key)
    return new_host(
        key_pair=key_pair,
        sec_opt={NOISE_PROTOCOL_ID: noise},  # Noise only: no plaintext impersonation
        muxer_preference="YAMUX",
        connection_config=ConnectionConfig(max_connections_per_peer=1),
    )


@asynccontextmanager
async def two_hosts() -> AsyncIterator[tuple[Any, KeyPair, Any, KeyPair]]:
    key_a, key_b = create_new_key_pair(), create_new_key_pair()
    host_a, host_b = make_host(key_a), make_host(key_b)
    try:
        async with host_a.run(LISTEN), host_b.run(LISTEN):
            await host_a.connect(PeerInfo(host_b.get_id(), host_b.get_transport_addrs()))
            yield host_a, key_a, host_b, key_b
    finally:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(host_a.close)
            nursery.start_soon(host_b.close)


async def test_envelopes_and_frames_over_real_libp2p_streams() -> None:
    report, outcomes = trio.open_memory_channel[object](10)
    with trio.fail_after(60):
        async with two_hosts() as (host_a, key_a, host_b, key_b):
            server_signer = Signer.from_libp2p(key_b.private_key)
            server_verifier = Verifier(max_frame_bytes=FL_MAX)
            my_b58 = host_b.get_id().to_base58()

            async def task_handler(stream: Any) -> None:
                try:  # a raising handler would take the host down
                    data = await read_frame(stream, max_bytes=1 << 20, timeout_s=10)
                    env = server_verifier.open(
                        data,
                        expected_sender=stream.muxed_conn.peer_id.to_bytes(),
                        expected_recipient=my_b58,
                    )
                    await report.send(env)
                    answer = TaskResult(task_id=env.body.task_id, text="4", completion_tokens=1)
                    await write_frame(stream, seal(server_signer, answer, env.sender_b58),
                                      max_bytes=1 << 20, timeout_s=10)
                    await stream.close()
                except ProtocolError as exc:
                    await report.send(exc)
                    await stream.reset()

            async def fl_handler(stream: Any) -> None:
                try:
                    data = await read_frame(stream, max_bytes=FL_MAX, timeout_s=20)
                    await report.send(server_verifier.open(
                        data, expected_sender=stream.muxed_conn.peer_id.to_bytes()))
                    await stream.close()
                except ProtocolError as exc:
                    await report.send(exc)
                    await stream.reset()

            host_b.set_stream_handler(TASK_PROTOCOL_ID, task_handler)
            host_b.set_stream_handler(FL_PROTOCOL_ID, fl_handler)
            client = Signer.from_libp2p(key_a.private_key)
            request = TaskRequest(task_id=b"q" * 16, kind="generate", prompt="2+2=",
                                  max_tokens=4, deadline_ms=0)

            # 1. request/response, both sides bound to the Noise-authenticated peer.
            stream = await host_a.new_stream(host_b.get_id(), [TASK_PROTOCOL_ID])
            await write_frame(stream, seal(client, request, my_b58), timeout_s=10)
            reply = Verifier().open(await read_frame(stream, timeout_s=10),
                                    expected_sender=host_b.get_id().to_bytes(),
                                    expected_recipient=client.peer_id_b58)
            assert reply.body == TaskResult(task_id=b"q" * 16, text="4", completion_tokens=1)
            received = await outcomes.receive()
            assert received.body == request  # type: ignore[attr-defined]
            # 2. the server closed its side: yamux raises StreamEOF -> TruncatedFrame.
            with pytest.raises(TruncatedFrame) as eof:
                await read_frame(stream, timeout_s=10)
            assert eof.value.received == 0

            # 3. an envelope signed by someone else than the connected peer.
            stream = await host_a.new_stream(host_b.get_id(), [TASK_PROTOCOL_ID])
            await write_frame(stream, seal(Signer.generate(), request, my_b58), timeout_s=10)
            assert isinstance(await outcomes.receive(), PeerMismatch)

            # 4. the client dies mid-frame.
            stream = await host_a.new_stream(host_b.get_id(), [TASK_PROTOCOL_ID])
            await stream.write(b"\x00\x00\x01\x00" + b"x" * 10)
            await stream.close()
            truncated = await outcomes.receive()
            assert isinstance(truncated, TruncatedFrame)
            assert truncated.received == 14

            # 5. a 6 MiB training payload (above the default 4 MiB cap) on the FL protocol.
            big = TrainMessage(run_id="run", round=1, payload=bytes(range(256)) * (6 * 4096))
            stream = await host_a.new_stream(host_b.get_id(), [FL_PROTOCOL_ID])
            await write_frame(stream, seal(client, big), max_bytes=FL_MAX, timeout_s=20)
            received = await outcomes.receive()
            assert received.body == big  # type: ignore[attr-defined]
