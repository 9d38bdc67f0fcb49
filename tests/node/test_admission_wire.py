"""Typed admission refusals and restart-proof replay protection, against a real daemon.

In-process libp2p hosts (own keys) talk to one node process: a peer with no ad gets
``unadvertised``, a peer whose ad names another network gets ``wrong_network``; a request
the node accepted before a restart is refused as a replay after it (its floor was stored).
"""

from __future__ import annotations

import itertools
import signal
import struct
import time

import httpx
import pytest
import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.custom_types import TProtocol
from nodeproc import NodeCluster, NodeProc
from peermind.node.p2p.ads import AdBoard, AdGossip
from peermind.node.p2p.host import dial, parse_peer_addr, running_host
from peermind.node.p2p.tasks import TASK_PROTOCOL, make_request
from peermind.protocol import (
    FL_PROTOCOL_ID,
    CapabilityAd,
    Message,
    Signer,
    TaskOffer,
    TaskRefusal,
    TrainInvite,
    TrainReply,
    Verifier,
    seal,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NEGOTIATE = "/peermind/negotiate/1.0.0"
LISTEN = ["/ip4/127.0.0.1/tcp/0"]
LONG_SKEW = ["--set", "limits.clock_skew_s=600"]  # the restart must not make the replay merely stale


async def _exchange(host: object, node: NodeProc, frame: bytes, protocol: str = TASK_PROTOCOL) -> bytes:
    """Send one framed envelope on a fresh stream of ``protocol``; the raw reply (b"" when reset)."""
    peer = parse_peer_addr(node.addrs[0]).peer_id
    stream = await host.new_stream(peer, [TProtocol(protocol)])  # type: ignore[attr-defined]
    got = b""
    try:
        await stream.write(frame)
        await stream.close()
        with trio.move_on_after(20):
            while True:
                chunk = await stream.read(65536)
                if not chunk:
                    break
                got += chunk
    except Exception:  # reset / EOF: a rejected request
        pass
    return got


def _framed(signer: Signer, node: NodeProc, body: Message | None = None) -> bytes:
    envelope = seal(signer, body or make_request(prompt="Say hi.", max_tokens=4), node.peer_id)
    return struct.pack(">I", len(envelope)) + envelope


def _reply(reply: bytes) -> Message:
    assert reply, "the node reset the stream instead of replying"
    return Verifier().open(reply[4:]).body


def _refusal(reply: bytes) -> TaskRefusal:
    body = _reply(reply)
    assert isinstance(body, TaskRefusal), body
    return body


async def _status(node: NodeProc) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=10) as http:
        return dict((await http.get(node.api_url + "/status")).json())


async def test_outsiders_get_typed_refusals_and_replays_stay_refused_across_a_restart(cluster: NodeCluster) -> None:
    node = cluster.start("worker", extra=LONG_SKEW)
    lone_keys, foreign_keys = create_new_key_pair(), create_new_key_pair()
    lone, foreign = Signer.from_libp2p(lone_keys.private_key), Signer.from_libp2p(foreign_keys.private_key)
    captured = _framed(lone, node)
    async with running_host(lone_keys, LISTEN) as host:
        await dial(host, parse_peer_addr(node.addrs[0]))
        assert _refusal(await _exchange(host, node, captured)).reason == "unadvertised"
        # the same typed refusal on negotiation and training
        deadline = int(time.time() * 1000) + 30_000
        offer = TaskOffer(task_id=b"o" * 16, kind="generate", deadline_ms=deadline)
        assert _refusal(await _exchange(host, node, _framed(lone, node, offer), NEGOTIATE)).reason == "unadvertised"
        invite = TrainInvite(run_id="r1", round=1, coordinator=lone.peer_id_b58, deadline_ms=deadline)
        reply = _reply(await _exchange(host, node, _framed(lone, node, invite), FL_PROTOCOL_ID))
        assert isinstance(reply, TrainReply) and reply.error.startswith("unadvertised:"), reply

    async with running_host(foreign_keys, LISTEN) as host:  # an ad on this topic naming another network
        seq = itertools.count(1)

        async def make_ad() -> CapabilityAd:
            return CapabilityAd(network="elsewhere", ttl_s=60, seq=next(seq))

        gossip = AdGossip(host, foreign, Verifier(), AdBoard(), cluster.network, make_ad, republish_s=1.0,  # type: ignore[arg-type]
                          on_evidence=lambda *_a: None)
        async with trio.open_nursery() as nursery:
            await nursery.start(gossip.run)  # before dialling: pubsub opens its streams on new connections
            await dial(host, parse_peer_addr(node.addrs[0]))
            with trio.fail_after(60):
                while not (await _status(node))["membership"]["refusals"].get("wrong_network"):  # type: ignore[index]  # noqa: ASYNC110 - polls another process
                    await trio.sleep(0.2)
            assert _refusal(await _exchange(host, node, _framed(foreign, node))).reason == "wrong_network"
            nursery.cancel_scope.cancel()
    assert node.peers() == set()  # neither got an ad accepted

    node.send(signal.SIGTERM)
    assert node.wait_exit() == 0
    again = cluster.start("worker-again", data_dir=node.data_dir, extra=LONG_SKEW)
    assert again.peer_id == node.peer_id
    async with running_host(lone_keys, LISTEN) as host:
        await dial(host, parse_peer_addr(again.addrs[0]))
        assert await _exchange(host, again, captured) == b"", "a request from before the restart was accepted again"
        assert _refusal(await _exchange(host, again, _framed(lone, again))).reason == "unadvertised"  # new ones pass
    details = " ".join(d for (d,) in again.db_rows("SELECT detail FROM evidence WHERE peer = ?", (lone.peer_id_b58,)))
    assert "ReplayedNonce" in details and "floor" in details, details
