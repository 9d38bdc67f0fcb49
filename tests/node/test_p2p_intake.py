"""RoomyPubsub: a burst of gossip reaches a subscriber that is not reading at that moment, and a
gossip stream whose negotiation timed out is opened on a later try.

Real hosts over loopback TCP. py-libp2p 0.8.1's own subscription channel holds 32 messages
and drops the rest after marking them seen (so later copies are ignored too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from libp2p.abc import IHost
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.pubsub.subscription import TrioSubscriptionAPI
from libp2p.tools.anyio_service import background_trio_service
from peermind.node.p2p.ads import GOSSIP_PROTOCOLS
from peermind.node.p2p.flood import FloodPublishGossipSub
from peermind.node.p2p.host import dial, full_addrs, parse_peer_addr, running_host
from peermind.node.p2p.intake import RoomyPubsub

TOPIC = "burst"
BURST = 100  # three times the library's 32


def _router() -> FloodPublishGossipSub:
    return FloodPublishGossipSub(GOSSIP_PROTOCOLS, flood_topics=[TOPIC], max_age_s=60.0,  # type: ignore[arg-type]
                                 degree=6, degree_low=4, degree_high=12, heartbeat_interval=1,
                                 max_messages_per_topic_per_second=1000.0)


@asynccontextmanager
async def _subscribed_pair() -> AsyncIterator[tuple[IHost, IHost, RoomyPubsub, TrioSubscriptionAPI]]:
    """Hosts a and b on loopback, each with a running RoomyPubsub on TOPIC, not yet connected;
    yields a, b, a's pubsub and b's subscription, and closes both hosts on the way out."""
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
            yield a, b, pa, inbox
            with trio.CancelScope(shield=True):
                await a.close()
                await b.close()


async def _until_subscribed(pa: RoomyPubsub, b: IHost) -> None:
    with trio.fail_after(15):
        while b.get_id() not in pa.peer_topics.get(TOPIC, set()):  # noqa: ASYNC110 - library state
            await trio.sleep(0.05)


async def test_a_burst_larger_than_the_librarys_buffer_all_reaches_an_idle_reader() -> None:
    async with _subscribed_pair() as (a, b, pa, inbox):
        await dial(a, parse_peer_addr(full_addrs(b)[0]))
        await _until_subscribed(pa, b)
        for i in range(BURST):  # b's reader is not reading meanwhile
            await pa.publish(TOPIC, f"m{i}".encode())
        got: list[bytes] = []
        with trio.move_on_after(10):
            while len(got) < BURST:
                got.append(bytes((await inbox.get()).data))
        assert got == [f"m{i}".encode() for i in range(BURST)]


class _SlowNegotiator:
    """A host's inbound protocol negotiation that answers only after ``until`` (a starved peer)."""

    def __init__(self, real: object, until: float) -> None:
        self._real = real
        self._until = until
        self.delayed = 0

    async def negotiate(self, communicator: object, timeout: int) -> object:  # noqa: ASYNC109 - the library's signature
        if trio.current_time() < self._until:
            self.delayed += 1
            await trio.sleep(self._until - trio.current_time())
        return await self._real.negotiate(communicator, timeout)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


async def test_a_gossip_stream_whose_negotiation_timed_out_is_opened_on_a_later_try() -> None:
    """py-libp2p gives up on a pubsub stream whose negotiation timed out; RoomyPubsub tries again
    while the peer stays connected, so a peer slow for a moment still gets our gossip."""
    async with _subscribed_pair() as (a, b, pa, inbox):
        a.get_network().connection_config.outbound_stream_protocol_negotiation_timeout = 1.0  # type: ignore[attr-defined]
        slow = _SlowNegotiator(b.multiselect, until=trio.current_time() + 3.0)  # type: ignore[attr-defined]
        b.multiselect = slow  # type: ignore[attr-defined]
        await dial(a, parse_peer_addr(full_addrs(b)[0]))
        with trio.fail_after(20):
            while b.get_id() not in pa.peers:  # noqa: ASYNC110 - library state
                await trio.sleep(0.05)
        assert slow.delayed >= 1  # a's first try did meet the slow peer
        await _until_subscribed(pa, b)
        await pa.publish(TOPIC, b"after the slow start")
        with trio.fail_after(10):
            assert bytes((await inbox.get()).data) == b"after the slow start"
