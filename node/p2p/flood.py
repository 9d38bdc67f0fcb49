"""Gossipsub that floods a node's own messages on chosen topics, and hands a newcomer our latest one.

py-libp2p 0.8.1 sends a node's own messages to its mesh peers only. Beyond
``degree_high`` peers, a node pruned from every mesh it touches (a light node that
joined through one busy peer) has an empty mesh, so its own ad went nowhere and a
50-node testnet never converged (docs/results/scale-50.md). go- and js-libp2p publish
their own messages to every connected peer subscribed to the topic (``floodPublish``);
this router does the same for the topics named (the ads topic). Forwarding others'
messages is unchanged: mesh peers only, so a message still costs each node about
``degree`` copies.

Flooding is for news. The ads reader sets ``flood_next`` off for a periodic republish
of an unchanged ad: that one goes to our mesh peers alone (mesh forwarding and gossip
reach the rest, as for anyone else's message) unless our mesh has fewer than
``degree_low`` peers. In a 20-node testnet every node held a connection to every
other, so each flooded republish reached each node ~9 times (once from its origin,
then from every mesh peer) and the copies took most of an idle light node's CPU.

A peer that subscribes (it just connected) is handed, to it alone, the latest message
of every origin we hold on those topics: our own last ad and the last accepted ad of
each peer (``keep``, called by the ads reader once an ad passed every check). A
newcomer that joined through one peer so holds the whole table within a round trip,
instead of waiting for meshes to form and for every peer's next period; before, every
new connection made both sides flood a fresh ad to everyone, which at N peers made
start-up traffic grow with N^3. The receiver checks replayed messages exactly as any
other (signature, envelope, replay, proof of work, membership). Messages older than
``max_age_s`` are not replayed (receivers refuse envelopes older than their clock-skew
window); when our own is that old, ``on_stale_own`` asks for a fresh publish instead.
The hand-over waits ``handover_delay_s`` and goes only if the peer is still there: a
connection that flashes up and is cut at once (``testnet fault drop``) must not keep
renewing the ads of peers that are in truth unreachable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pb import rpc_pb2

log = logging.getLogger("peermind.node.flood")

REPLAY_MAX = 256
"""Origins whose latest message is held per topic (the most recently heard); bounds memory and a replay."""


class FloodPublishGossipSub(GossipSub):
    """``GossipSub`` with flood publishing of own messages on ``flood_topics`` (see the module docstring)."""

    def __init__(self, protocols: Sequence[TProtocol], *, flood_topics: Iterable[str], max_age_s: float,
                 handover_delay_s: float = 0.0, on_stale_own: Callable[[str], None] = lambda _topic: None,
                 clock: Callable[[], float] = time.monotonic, **gossipsub_options: object) -> None:
        super().__init__(protocols, **gossipsub_options)  # type: ignore[arg-type]
        self.flood_topics = frozenset(flood_topics)
        self.max_age_s = max_age_s
        self.handover_delay_s = handover_delay_s
        self._on_stale_own = on_stale_own
        self._clock = clock
        self._latest: dict[str, dict[bytes, tuple[rpc_pb2.Message, float]]] = {t: {} for t in self.flood_topics}
        self.replayed = 0
        """Messages handed to a newcomer alone (for tests and metrics)."""
        self.flood_next = True
        """Whether our next own message is flooded even when our mesh is full (see the module doc)."""

    def keep(self, msg: rpc_pb2.Message) -> None:
        """Hold ``msg`` as its origin's latest on the flooded topics it names, to hand to newcomers."""
        now = self._clock()
        for topic in msg.topicIDs:
            held = self._latest.get(topic)
            if held is not None:
                origin = bytes(msg.from_id)
                held.pop(origin, None)
                held[origin] = (msg, now)
                if len(held) > REPLAY_MAX:  # dicts keep insertion order: the first is the least recently heard
                    del held[next(iter(held))]

    def forget(self, origin: ID) -> None:
        """Stop handing ``origin``'s messages to newcomers (its ad expired)."""
        for held in self._latest.values():
            held.pop(origin.to_bytes(), None)

    def _is_own(self, msg_forwarder: ID, origin: ID) -> bool:
        return self.pubsub is not None and msg_forwarder == origin == self.pubsub.my_id

    async def publish(self, msg_forwarder: ID, pubsub_msg: rpc_pb2.Message) -> None:
        """Keep our own message as our latest, then send it as gossipsub does (plus flooding)."""
        if self._is_own(msg_forwarder, ID(pubsub_msg.from_id)):
            self.keep(pubsub_msg)
        await super().publish(msg_forwarder, pubsub_msg)

    def _get_peers_to_send(self, topic_ids: Iterable[str], msg_forwarder: ID, origin: ID,
                           msg_id: bytes | None = None) -> Iterable[ID]:
        topics = list(topic_ids)
        peers = set(super()._get_peers_to_send(topics, msg_forwarder, origin, msg_id))
        if self.pubsub is not None and self._is_own(msg_forwarder, origin):
            for topic in topics:
                if topic in self.flood_topics and (self.flood_next or len(self.mesh.get(topic, ())) < self.degree_low):
                    peers.update(self._flood_peers(topic))
        peers.discard(origin)
        yield from peers

    def _flood_peers(self, topic: str) -> set[ID]:
        """Every gossipsub peer subscribed to ``topic`` that scoring does not graylist."""
        assert self.pubsub is not None
        subscribed = self.pubsub.peer_topics.get(topic, set())
        out = {peer for peer in subscribed if self._is_gossipsub_peer(peer)}
        if self.scorer is not None:
            out = {peer for peer in out if not self.scorer.is_graylisted(peer, [topic])}
        return out

    async def send_recent_messages(self, peer_id: ID, topic: str) -> None:
        """The catch-up for a newly subscribed peer (the library's, in one RPC), then the hand-over of what we hold."""
        self.catch_up(peer_id, topic)
        if not self._latest.get(topic):
            return
        if self.handover_delay_s > 0:
            # Not inline: the library calls this while reading the peer's messages.
            self.manager.run_task(self._hand_over_later, peer_id, topic)
        else:
            self.hand_over(peer_id, topic)

    def catch_up(self, peer_id: ID, topic: str) -> None:
        """Send a newly subscribed peer the message cache's recent window of ``topic``, as one RPC.

        py-libp2p 0.8.1 writes each cached message as its own RPC, each with a freshly built
        signed peer record, straight to the stream: one Noise message and one send per ad.
        In a 20-node start-up every new subscription replayed a dozen ads that way; a profile
        of the 15 s after the last node was ready put 5-9% of a node's event loop in that
        replay (session 12). The messages and the scorer's gate are the library's.
        """
        pubsub = self.pubsub
        if pubsub is None or peer_id not in pubsub.peers:
            return  # no stream yet: pubsub replays once the stream is registered
        batch = []
        for mid in self.mcache.window(topic):
            msg = self.mcache.get(mid)
            if msg is None:
                continue
            if self.scorer is not None and not self.scorer.allow_publish(peer_id, list(msg.topicIDs)):
                continue
            batch.append(msg)
        if batch:
            self.send_rpc(peer_id, rpc_pb2.RPC(publish=batch))  # split below the RPC size cap by the library

    async def _hand_over_later(self, peer_id: ID, topic: str) -> None:
        await trio.sleep(self.handover_delay_s)
        self.hand_over(peer_id, topic)

    def hand_over(self, peer_id: ID, topic: str) -> None:
        """Send ``peer_id`` the latest message of each origin we hold on ``topic`` (not its own, none too old)."""
        held = self._latest.get(topic)
        if not held or self.pubsub is None or peer_id not in self.pubsub.peers:
            return  # gone already
        if self.scorer is not None and not self.scorer.allow_publish(peer_id, [topic]):
            return
        me, now = self.pubsub.my_id.to_bytes(), self._clock()
        just_sent = set(self.mcache.window(topic))  # ``catch_up`` sent these
        batch = []
        for origin, (msg, kept_at) in list(held.items()):
            if origin == peer_id.to_bytes() or (msg.from_id + msg.seqno) in just_sent:
                continue
            if now - kept_at > self.max_age_s:
                if origin == me:
                    self._on_stale_own(topic)  # a fresh publish floods it to the newcomer too
                continue
            batch.append(msg)
        if batch:
            self.send_rpc(peer_id, rpc_pb2.RPC(publish=batch))  # split below the RPC size cap by the library
            self.replayed += len(batch)
            log.debug("latest messages handed to a newcomer", extra={"peer": peer_id.to_base58(), "topic": topic,
                                                                    "messages": len(batch)})
