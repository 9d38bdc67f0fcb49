"""The ``sybil`` adversary: one process, many fresh identities, each within its own allowance.

A light process (it serves no model) mints ``PEERMIND_SYBIL_IDENTITIES`` (default 50) fresh
identities. Each is a real libp2p host with its own Ed25519 key, listening on loopback,
with an ad that carries the network's proof of work for its own peer ID. The ads reach
the network through this node's gossip, signed by each identity as its own gossip origin
(forwarding is what gossip does; a thrifty attacker runs one mesh, not fifty), and name
no model, so routing never picks them. Once told to attack (``adversary.go``), every
identity asks every honest model node for long generations, each pair no faster than a
newcomer's own request and work allowances (``trust.request_rate``/``trust.work_rate``
times the newcomer share), honouring every ``retry_after_ms``. ``PEERMIND_SYBIL_MAX_TOKENS``
(default 256) sets how long a generation each asks for; the pacing follows it. So no single identity is
ever over its allowance or flood evidence: what bounds the flock is the receiver's shared
newcomer pool (``peermind.trust.NewcomerPool``), which ``peermind bench trust --roles
sybil`` measures. Counts per outcome go to ``adversary.json``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IHost
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.validators import PUBSUB_SIGNING_PREFIX
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from peermind.node.extension import TASK_PROTOCOL, ads_topic, make_request
from peermind.protocol import (
    CapabilityAd,
    ChatMessage,
    ProtocolError,
    Signer,
    TaskRefusal,
    TaskResult,
    Verifier,
    read_frame,
    seal,
    write_frame,
)
from peermind.trust import ProofOfWork, TrustParams

from ._adversary_base import AdversaryNode

log = logging.getLogger("peermind.testnet.adversary")

__all__ = ["SybilIdentity", "SybilNode", "pair_interval_s"]

DEFAULT_IDENTITIES = 50
ESSAY = "Write a very long and detailed essay about the history of every country."
MAX_TOKENS = 256
TASK_TIMEOUT_S = 20.0
DIAL_TIMEOUT_S = 5.0
MARGIN = 1.15
"""Pace each identity 15% under its allowance: a bucket refilled exactly at the limit would
be refused now and then for clock skew between the two processes."""
CHARS_PER_TOKEN = 3.0
"""A pessimistic prompt-token estimate (the receiver charges its own count)."""


def pair_interval_s(params: TrustParams, prompt_chars: int, max_tokens: int) -> float:
    """Seconds between two requests of one identity to one peer that stay within a newcomer's
    request and work allowances (the newcomer share of ``request_rate`` and ``work_rate``)."""
    share = params.newcomer_limit_factor
    cost = prompt_chars / CHARS_PER_TOKEN + 16 + max_tokens
    return MARGIN * max(1.0 / (params.request_rate * share), cost / (params.work_rate * share))


@dataclass
class SybilIdentity:
    """One fresh identity: its key, its running host, its signer and its proof of work."""

    key_pair: KeyPair
    signer: Signer
    pow_nonce: int
    host: IHost | None = None
    seq: int = 0

    @property
    def peer_id(self) -> str:
        return self.signer.peer_id_b58


def _build_host(key_pair: KeyPair) -> IHost:
    """As a node builds its own: Noise only, yamux, one connection per peer."""
    noise = NoiseTransport(key_pair, noise_privkey=create_x25519_key_pair().private_key)
    return new_host(key_pair=key_pair, sec_opt={NOISE_PROTOCOL_ID: noise}, muxer_preference="YAMUX",
                    connection_config=ConnectionConfig(max_connections_per_peer=1))


@asynccontextmanager
async def _running(identity: SybilIdentity) -> AsyncIterator[IHost]:
    host = _build_host(identity.key_pair)
    async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
        try:
            identity.host = host
            yield host
        finally:
            identity.host = None
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await host.close()


def _dialable(addrs: list[str]) -> list[multiaddr.Multiaddr]:
    return [multiaddr.Multiaddr(a.split("/p2p/")[0]) for a in addrs]


class SybilNode(AdversaryNode):
    """A light node that runs K fresh identities from one process."""

    role = "sybil"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.identities: list[SybilIdentity] = []
        self._identities_up = trio.Event()
        self._reply_verifier = Verifier(max_skew_s=self.config.limits.clock_skew_s,
                                        max_frame_bytes=self.config.limits.max_frame_bytes)
        self._rng = random.Random(os.getpid())
        self._params = TrustParams()
        self._max_tokens = int(os.environ.get("PEERMIND_SYBIL_MAX_TOKENS", MAX_TOKENS))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._keep_identities)
            await super().run(task_status=task_status)
            nursery.cancel_scope.cancel()

    # ------------------------------------------------------------------ identities
    def _mint(self, count: int) -> list[SybilIdentity]:
        """``count`` fresh keys, each with the network's proof of work (what an identity costs)."""
        pow_ = ProofOfWork(self.config.network, self.config.trust.pow_difficulty_bits)
        started = time.process_time()
        out = []
        for _ in range(count):
            key_pair = create_new_key_pair()
            signer = Signer.from_libp2p(key_pair.private_key)
            out.append(SybilIdentity(key_pair, signer, pow_.solve(signer.peer_id_b58)))
        self.stats.count("identities", count)
        self.stats.count("mint_cpu_ms", int((time.process_time() - started) * 1000))
        return out

    async def _keep_identities(self) -> None:
        """Mint the identities, run their hosts, and keep their ads fresh until the node stops."""
        await self.ready.wait()
        count = int(os.environ.get("PEERMIND_SYBIL_IDENTITIES", DEFAULT_IDENTITIES))
        self.identities = await trio.to_thread.run_sync(self._mint, count)
        async with AsyncExitStack() as stack:
            for identity in self.identities:
                await stack.enter_async_context(_running(identity))
            log.warning("sybil identities up", extra={"identities": len(self.identities)})
            self._identities_up.set()
            while True:
                base = await self.make_ad()
                for identity in self.identities:
                    await self._publish_ad(identity, base)
                    await trio.sleep(0.05)  # within the receivers' per-peer ad allowance
                await trio.sleep(max(2.0, base.ttl_s / 3))

    async def _publish_ad(self, identity: SybilIdentity, base: CapabilityAd) -> None:
        """``identity``'s ad as a gossip message whose origin it is (its own key signs both)."""
        pubsub = self.gossip.pubsub if self.gossip is not None else None
        if pubsub is None or identity.host is None:
            return
        identity.seq += 1
        ad = dataclasses.replace(base, addrs=[f"{a}/p2p/{identity.peer_id}" for a in
                                              map(str, identity.host.get_transport_addrs())],
                                 models=[], pow_nonce=identity.pow_nonce, member_proof=None, seq=identity.seq,
                                 knowledge=None)
        topic = ads_topic(self.config.network)
        msg = rpc_pb2.Message(data=seal(identity.signer, ad, topic), topicIDs=[topic],
                              from_id=ID.from_base58(identity.peer_id).to_bytes(),
                              seqno=time.time_ns().to_bytes(8, "big"))
        msg.signature = identity.key_pair.private_key.sign(PUBSUB_SIGNING_PREFIX.encode() + msg.SerializeToString())
        msg.key = identity.key_pair.public_key.serialize()
        try:
            await pubsub.push_msg(pubsub.my_id, msg)
            self.stats.count("ads_published")
        except Exception as exc:
            log.info("sybil ad not published", extra={"error": repr(exc)})
            self.stats.count("ads_failed")

    # ------------------------------------------------------------------ attack
    def targets(self) -> list[tuple[str, list[str]]]:
        """Honest model nodes (peer, addrs): peers with a fresh ad naming a model, not ours."""
        ours = {i.peer_id for i in self.identities}
        return [(e.peer_id, list(e.ad.addrs)) for e in self.board.fresh()
                if e.ad.models and e.peer_id not in ours and e.peer_id != self.peer_id]

    async def attack(self) -> None:
        interval = pair_interval_s(self._params, len(ESSAY), self._max_tokens)
        self.stats.count("pair_interval_ms", int(interval * 1000))
        await self._identities_up.wait()
        async with trio.open_nursery() as nursery:
            for identity in self.identities:
                for peer, addrs in self.targets():
                    nursery.start_soon(self._pair, identity, peer, addrs, interval)
            while not self.attack_over():  # noqa: ASYNC110 - a file written by another process
                await trio.sleep(0.5)
            nursery.cancel_scope.cancel()

    async def _pair(self, identity: SybilIdentity, peer: str, addrs: list[str], interval: float) -> None:
        """One identity asking one peer, forever, within its allowance and every retry hint."""
        await trio.sleep(self._rng.uniform(0, interval))  # spread the flock over one interval
        while True:
            if self.paused():
                await trio.sleep(0.5)
                continue
            retry_after_s = await self._ask(identity, peer, addrs)
            await trio.sleep(max(interval, retry_after_s * MARGIN))

    async def _ask(self, identity: SybilIdentity, peer: str, addrs: list[str]) -> float:
        """One long generation asked of ``peer``; the retry hint it got (0 if none)."""
        host = identity.host
        if host is None:
            return 0.0
        req = make_request(kind="generate", messages=[ChatMessage(role="user", content=ESSAY)],
                           max_tokens=self._max_tokens, timeout_s=TASK_TIMEOUT_S)
        target = ID.from_base58(peer)
        outcome, retry_after_s = "failed", 0.0
        try:
            with trio.fail_after(TASK_TIMEOUT_S + 5):
                if not host.get_network().get_connections(target):
                    await host.connect(PeerInfo(target, _dialable(addrs)))
                stream = await host.new_stream(target, [TProtocol(TASK_PROTOCOL)])
                try:
                    await write_frame(stream, seal(identity.signer, req, peer), timeout_s=DIAL_TIMEOUT_S)
                    body = self._reply_verifier.open(
                        await read_frame(stream, timeout_s=TASK_TIMEOUT_S + 2)).body
                finally:
                    with trio.CancelScope(shield=True), trio.move_on_after(1):
                        await stream.close()
            if isinstance(body, TaskResult):
                outcome = "result"
                self.stats.count("tokens_served", body.completion_tokens)
            elif isinstance(body, TaskRefusal):
                outcome = f"refused:{body.reason}"
                retry_after_s = (body.retry_after_ms or 0) / 1000
        except trio.TooSlowError:
            outcome = "timeout"
        except (ProtocolError, Exception) as exc:  # reset, unreachable, bad frame: the outcome is "failed"
            log.debug("sybil request failed", extra={"peer": peer, "error": repr(exc)})
        self.stats.count("requests")
        self.stats.count(outcome)
        return retry_after_s
