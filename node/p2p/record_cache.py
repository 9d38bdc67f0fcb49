"""Check a peer's signed peer record once, not on every pubsub message it sends.

py-libp2p 0.8.1 attaches the sender's signed peer record to every pubsub RPC and the
receiver verifies it each time (an Ed25519 check plus a peerstore rewrite), twice for an
RPC with control messages. A peer's record changes only when its addresses do, so in a
20-node testnet a light node spent ~13% of its idle CPU re-verifying the same bytes: ads
arrive ~9 times each (flooded by their origin, forwarded by every mesh peer), and py-spy
put ``crypto_sign_open`` first among the gossip path's own costs.

``install`` wraps the library's ``maybe_consume_signed_record`` where pubsub and
gossipsub call it: a record byte-identical to one this process already accepted from the
same peer within ``REFRESH_S`` is accepted again without re-verification; anything else
(a new record, a different peer, an old acceptance) goes through the library's check, so
a forged or foreign record is refused exactly as before. Rejections are never cached.
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import Callable

from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.pubsub.pb.rpc_pb2 import RPC

ConsumeRecord = Callable[[RPC, IHost, ID], bool]

REFRESH_S = 60.0
"""An accepted record is checked (and its addresses' peerstore TTL refreshed) again after this long."""
MAX_ENTRIES = 4096
"""Peers per host whose last accepted record is remembered (least recently seen forgotten first)."""


class RecordCache:
    """Remembers, per host, each peer's last accepted signed record and when it was accepted.

    Per host: a record another host in this process accepted has not reached this one's peerstore.
    """

    def __init__(self, consume: ConsumeRecord, *, clock: Callable[[], float] = time.monotonic,
                 refresh_s: float = REFRESH_S, max_entries: int = MAX_ENTRIES) -> None:
        self._consume = consume
        self._clock = clock
        self._refresh_s = refresh_s
        self._max_entries = max_entries
        self._accepted: weakref.WeakKeyDictionary[IHost, OrderedDict[bytes, tuple[bytes, float]]] = (
            weakref.WeakKeyDictionary())
        self.checks_skipped = 0

    def __call__(self, msg: RPC, host: IHost, peer_id: ID) -> bool:
        """The library's ``maybe_consume_signed_record``, skipping a re-check of identical bytes."""
        if not msg.HasField("senderRecord"):
            return True
        accepted_here = self._accepted.get(host)
        if accepted_here is None:  # not setdefault: this runs on every pubsub message
            accepted_here = self._accepted[host] = OrderedDict()
        key = peer_id.to_bytes()
        record = bytes(msg.senderRecord)
        now = self._clock()
        held = accepted_here.get(key)
        if held is not None and held[0] == record and now - held[1] < self._refresh_s:
            accepted_here.move_to_end(key)
            self.checks_skipped += 1
            return True
        accepted = self._consume(msg, host, peer_id)
        if accepted:
            accepted_here[key] = (record, now)
            accepted_here.move_to_end(key)
            while len(accepted_here) > self._max_entries:
                accepted_here.popitem(last=False)
        else:
            accepted_here.pop(key, None)
        return accepted


_installed: RecordCache | None = None


def install() -> RecordCache:
    """Route pubsub's and gossipsub's record checks through one ``RecordCache`` (idempotent)."""
    global _installed
    if _installed is not None:
        return _installed
    from libp2p.pubsub import gossipsub, pubsub, utils

    cache = RecordCache(utils.maybe_consume_signed_record)
    pubsub.maybe_consume_signed_record = cache  # type: ignore[assignment]
    gossipsub.maybe_consume_signed_record = cache  # type: ignore[assignment]
    _installed = cache
    return cache
