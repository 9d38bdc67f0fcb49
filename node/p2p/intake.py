"""A pubsub that holds a burst of messages instead of dropping it, on the way in and out.

py-libp2p 0.8.1 hands each new message to a subscription through a 32-slot channel and drops
it when the channel is full, after marking it seen: every later copy of that message is then
ignored, so the ad is gone until its signer's next republish, which may be dropped again.
Its per-peer outbound queue also holds 32 messages and silently drops the rest.
Bursts are normal: a newcomer is handed the latest ad of every origin at once (flood.py), a
peer joining through several hubs gets that from each, and a process starved of CPU reads
slowly. 20 all-model nodes on 2 cores logged 767 such drops in one run while ads never all
converged (docs/results/scale-system*.json). The ads and trust read loops do little per
message, so a deeper buffer absorbs the bursts rather than hiding a steady overload.
"""

from __future__ import annotations

import logging

import trio
from google.protobuf.message import DecodeError
from libp2p.abc import INetStream
from libp2p.host.exceptions import StreamFailure
from libp2p.network.exceptions import SwarmException
from libp2p.peer.id import ID
from libp2p.protocol_muxer.exceptions import MultiselectClientError
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.rpc_queue import RpcQueue
from libp2p.pubsub.subscription import TrioSubscriptionAPI

log = logging.getLogger("peermind.node.gossip")

SUBSCRIPTION_BUFFER = 1024
"""Messages a subscription holds before pubsub drops new ones (the library's is 32); ~2 MB of ads."""
OUTBOUND_BUFFER = 1024
"""Messages queued for one peer before pubsub drops new ones (the library's is 32)."""
_NURSERY_CLOSED = "Nursery is closed to new arrivals"
"""trio's message when a task is started in a nursery that is exiting (it has no type of its own)."""


def _negotiation_timed_out(error: StreamFailure) -> bool:
    """Whether a failed stream open was a protocol negotiation that ran out of time.

    py-libp2p raises ``StreamFailure`` from a ``MultiselectClientError`` for every failed
    negotiation; only its message tells a timeout ("response timed out after 10s") from a peer
    that does not speak the protocol, which must not be retried.
    """
    cause = error.__cause__
    return isinstance(cause, MultiselectClientError) and "timed out" in str(cause)


async def _reset_quietly(stream: INetStream) -> None:
    try:
        await stream.reset()
    except Exception:  # already gone: nothing left to reset
        pass


class RoomyPubsub(Pubsub):
    """``Pubsub`` with deeper subscription and per-peer outbound queues, a malformed message
    ending only its stream, and a gossip stream whose negotiation timed out tried again;
    otherwise the library's own."""

    async def _handle_new_peer(self, peer_id: ID) -> None:
        """Open our gossip stream to a new peer as the library does, retrying a negotiation timeout.

        The library retries a failed open while the peer stays connected (``SwarmException``,
        backing off 0.5 s to 10 s), but gives up for good on a negotiation that timed out
        (``StreamFailure``): the connection then carries none of our gossip until ``ads.py``'s
        half-open rule closes it (15 s). That is what a newcomer meets at a model node starved
        of CPU while 45 others join (28-199 such timeouts per 50-node run, session 11); a peer
        that does not speak gossip at all is still given up on at once.
        """
        try:
            await super()._handle_new_peer(peer_id)
        except StreamFailure as exc:
            if not _negotiation_timed_out(exc):
                raise
            log.debug("gossip stream negotiation timed out: trying again", extra={"peer": peer_id.to_base58()})
            raise SwarmException(f"gossip stream negotiation with {peer_id} timed out") from exc

    async def continuously_read_stream(self, stream: INetStream) -> None:
        """The library's reader, except that a message that is not protobuf ends this stream alone.

        py-libp2p 0.8.1 lets ``DecodeError`` escape into the swarm's connection nursery, which
        stops the swarm and ends the daemon: any peer could kill a node with a few bytes on a
        gossip stream, and in a 50-node run a stream corrupted on the way (a write cut by a
        window timeout) did. The stream is reset and the peer treated as the library treats
        one that sent an oversized message; a later connection starts afresh.
        """
        try:
            await super().continuously_read_stream(stream)
        except RuntimeError as exc:
            # A peer's subscription arrived while this pubsub was stopping: the library checks that
            # its service runs, then starts a task in the service's nursery, which may be exiting.
            # The stream ends with the service instead of taking the host's connection down.
            if _NURSERY_CLOSED not in str(exc):
                raise
            log.debug("gossip arrived while pubsub stopped: stream ended", extra={"peer": stream.muxed_conn.peer_id.to_base58()})
            await _reset_quietly(stream)
        except DecodeError as exc:
            peer = stream.muxed_conn.peer_id
            log.warning("malformed gossip message: dropping the stream", extra={"peer": peer.to_base58(),
                                                                               "error": str(exc)[:200]})
            await _reset_quietly(stream)
            self._handle_dead_peer(peer)

    async def subscribe(self, topic_id: str) -> TrioSubscriptionAPI:
        """Subscribe to ``topic_id`` as the library does, with a deeper channel (see module doc)."""
        if topic_id in self.topic_ids:
            return self.subscribed_topics_receive[topic_id]
        send_channel, receive_channel = trio.open_memory_channel[rpc_pb2.Message](SUBSCRIPTION_BUFFER)
        subscription = TrioSubscriptionAPI(receive_channel, unsubscribe_fn=lambda: self.unsubscribe(topic_id))
        # Both maps are set before the first await, as in the library, so no message slips past.
        self.subscribed_topics_send[topic_id] = send_channel
        self.subscribed_topics_receive[topic_id] = subscription
        packet, subopt = self._build_announce_rpc(topic_id, subscribe=True)
        await self.message_all_peers(packet.SerializeToString(), announce=subopt)
        await self.router.join(topic_id)
        return subscription

    async def handle_sending_messages(self, peer_id: ID, stream: INetStream, queue: RpcQueue) -> None:
        """The library's per-peer sending loop, on an ``OUTBOUND_BUFFER``-deep queue.

        The library creates the peer's queue and starts this loop in one step; the queue is
        swapped here, taking over what was pushed to it meanwhile.
        """
        if self.peer_queues.get(peer_id) is queue:
            roomy = RpcQueue(max_size=OUTBOUND_BUFFER, max_message_size=queue.max_message_size)
            self.peer_queues[peer_id] = roomy
            for _ in range(len(queue)):
                item = await queue.pop()  # returns at once: the item is there
                if item is not None:
                    roomy.push(item)
            queue.close()
            queue = roomy
        await super().handle_sending_messages(peer_id, stream, queue)
