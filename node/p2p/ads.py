"""Capability ads: the signed self-descriptions peers gossip, and the table of fresh ones.

Every node publishes a ``CapabilityAd`` (models, measured speed, load, cost, tags) in
the protocol's signed envelope on ``peermind/<network>/ads/1`` at start, periodically
and on change; a new or changed ad goes to every connected peer on the topic at once
(flood publishing, ``flood.py``), an unchanged periodic one through the gossip mesh;
a peer that connects later is handed our latest ad alone at once, instead of waiting
for the next period. Receivers verify the envelope, check that the gossip origin is the
ad's signer, keep the newest ad per peer until its TTL runs out, and dial peers they
learn about: ads double as the discovery mechanism. A peer's ad goes when our
connection to it goes and a re-dial fails, or at once when the link flaps
(``link_losses.py``); the ad of a peer we never connected to (we dial few light
peers) lives a short grace after it arrived (``DISCONNECTED_GRACE_PERIODS`` republish
periods): its next ad, relayed by others, renews it; if it vanished, the ad goes within
the grace instead of attracting requests until its TTL.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.pubsub.pubsub import Pubsub
from libp2p.pubsub.score import ScoreParams
from libp2p.tools.anyio_service import background_trio_service
from multiaddr import Multiaddr
from peermind.protocol import (
    CapabilityAd,
    ProtocolError,
    ReplayedNonce,
    Signer,
    StaleTimestamp,
    Verifier,
    seal,
    tap_frame,
)
from peermind.trust import EvidenceSink, ViolationSource

from .closed_conns import ClosedConnections
from .evidence import protocol_evidence
from .flood import FloodPublishGossipSub
from .half_open import HalfOpenPeers
from .host import (
    AUTO_CONNECT_TARGET,
    PeerUnreachable,
    addrs_of,
    is_connected,
    parse_peer_addr,
)
from .intake import RoomyPubsub
from .link_losses import LinkLosses
from .reach import dial_once
from .record_cache import install as install_record_cache
from .streams import UnexpectedMessage

log = logging.getLogger("peermind.node.ads")

GOSSIP_PROTOCOLS = ["/meshsub/1.1.0", "/meshsub/1.0.0"]
CONNECTION_POLL_S = 0.25
AD_DIAL_TIMEOUT_S = 10.0
"""As long as py-libp2p's own stream negotiation wait: on a busy machine a handshake takes seconds
(N = 20 runs logged negotiations timing out at 10 s), and a dial cut at 3 s threw away a
connection about to be made, to start over on the signer's next ad."""
DISCONNECTED_GRACE_PERIODS = 4.0
"""How many of our republish periods the ad of a peer we hold no connection to lives after it arrived.

2.5 made ads flicker while 20 nodes started on a loaded machine (19 expiries, each renewed
later: ads relayed through others arrived more than 12.5 s apart at 5 s periods)."""
GOSSIP_PEERS_WANTED = AUTO_CONNECT_TARGET
"""Below this many connections an ad's signer is dialed even when it serves no model (gossip needs ~degree peers).

Each connection costs its ad copies (one per mesh peer and message) and its share of start-up
handshakes; at 8, with the library's auto-connector and DHT lookups dialing everyone, every
node of a 20-node testnet held ~21 connections."""
MODEL_DIAL_SPREAD_S = 10.0
"""A model peer dialled beyond ``GOSSIP_PEERS_WANTED`` is dialled after a random wait of up to this long.

Every node hears a model peer's ad within about a second, so the nodes of a network that
joined together all dialled each model peer at once: in 50-node runs each model node took
~35 new connections within 10 s while the last ads still spread, and the model nodes were
the last to hold them (docs/results/scale-s14.md). A question that needs the peer sooner
dials it at once (``reach.py``)."""
HANDOVER_DELAY_S = 0.5
"""A new peer is handed the ads we hold after this long, if still connected (see flood.py)."""
REDIAL_SETTLE_S = 1.0
"""A re-dial after a lost connection counts only if the connection still stands this long after
(a link cut every few milliseconds lets dials through, and their connections die at once)."""
REPLAY_MAX_AGE_S = 22.0
"""Ads are handed to a newcomer only while younger than this (receivers allow 30 s of clock skew).

Longer than the default republish period (20 s), so a newcomer is handed every ad we hold:
at 15 s, a quarter of a 20 s network's ads were too old to hand over (the newcomer waited for
their next period), and our own, handed over when older, made us publish again at once, so
peers with new connections published every 15-17 s instead of 20 (session 11, N = 50).
The 8 s left below the skew limit cover the ad's way to us and on to the newcomer."""


def _news(ad: CapabilityAd) -> CapabilityAd:
    """What of ``ad`` is worth flooding when it changes: all but its sequence number and free RAM."""
    return dataclasses.replace(ad, seq=0, ram_mb=0)


def ad_multiaddrs(peer_b58: str, ad: CapabilityAd) -> list[Multiaddr]:
    """The dialable addresses in ``peer_b58``'s ad: only those naming the signer (an ad cannot redirect dials)."""
    return [a for text in addrs_of(peer_b58, ad.addrs) for a in parse_peer_addr(text).addrs]


def ads_topic(network: str) -> str:
    """The gossipsub topic of ``network``'s ads: networks never see each other's."""
    return f"peermind/{network}/ads/1"


def ads_router(topic: str, *, score_params: ScoreParams | None,
               on_stale_own: Callable[[str], None]) -> FloodPublishGossipSub:
    """The gossipsub router of the ads topic ``topic``: its degrees, heartbeat and limits (see the comments)."""
    return FloodPublishGossipSub(
        GOSSIP_PROTOCOLS,  # type: ignore[arg-type]
        flood_topics=[topic],
        max_age_s=REPLAY_MAX_AGE_S,
        handover_delay_s=HANDOVER_DELAY_S,
        on_stale_own=on_stale_own,
        degree=6,
        degree_low=4,
        degree_high=12,
        heartbeat_interval=1,
        # py-libp2p 0.8.1's "adaptive gossip" (on by default) rates the network's health every
        # 30 s and, below 0.7, sets the heartbeat to 30-60 s (it reads the interval as if in
        # milliseconds). A network that is joining rates ~0.55, so every node's heartbeat
        # went to 60 s: meshes were not trimmed (model nodes forwarded each ad to 32-39 mesh
        # peers instead of at most degree_high), the message cache's recent window was not
        # shifted (a newcomer's catch-up replayed up to 240 messages instead of ~3 s worth)
        # and no IHAVE gossip went out (docs/results/scale-s14.md). Fixed degrees and a 1 s
        # heartbeat, as in go- and js-libp2p.
        adaptive_gossip_enabled=False,
        # Peer exchange: a peer pruned from a full mesh (a bootstrap node with more than
        # degree_high peers) is handed other peers to connect to. Without it, nodes that
        # joined through one bootstrap stay a star, and beyond degree_high peers most ads
        # never reach most nodes (50 nodes: 90 of 2,450 ads after minutes).
        do_px=True,
        max_messages_per_topic_per_second=200.0,
        score_params=score_params,
    )


@dataclass(frozen=True)
class PeerAd:
    """A verified ad and when we stop believing it."""

    peer_id: str
    ad: CapabilityAd
    received_at: float
    expires_at: float

    def fresh(self, now: float | None = None) -> bool:
        """True until the ad's own expiry (the signer's TTL, capped on arrival)."""
        return (now if now is not None else time.time()) < self.expires_at

    def to_json(self) -> dict[str, object]:
        """The ad as ``peermind peers`` and the API show it (bytes as hex)."""
        body = self.ad.to_body()
        body.update(peer_id=self.peer_id, received_at=self.received_at, expires_at=self.expires_at)
        if self.ad.member_proof is not None:  # bytes: JSON shows it as hex
            body["member_proof"] = self.ad.member_proof.hex()
        if self.ad.admission is not None:
            body["admission"] = self.ad.admission.hex()
        k = self.ad.knowledge
        if k is not None:  # centroids are bytes: JSON shows their number and sizes, not the vectors
            body["knowledge"] = {"centroids": len(k.centroids), "counts": [c.count for c in k.centroids],
                                 "topics": list(k.topics), "chunks": k.chunks, "noised": k.noised}
        return body


class AdBoard:
    """The newest fresh ad per peer; expired ads disappear on read and on prune."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self._ads: dict[str, PeerAd] = {}
        self._now = now
        self.changed = trio.Event()

    def offer(self, peer_id: str, ad: CapabilityAd) -> bool:
        """Store ``ad`` unless we already hold a newer one; True if the table changed."""
        current = self._ads.get(peer_id)
        if current is not None and current.ad.seq > ad.seq:
            return False
        now = self._now()
        self._ads[peer_id] = PeerAd(peer_id, ad, now, now + ad.ttl_s)
        self._notify()
        return current is None or current.ad != ad

    def fresh(self) -> list[PeerAd]:
        """Every ad that has not expired: the candidates routing may ask."""
        now = self._now()
        return [entry for entry in self._ads.values() if entry.fresh(now)]

    def get(self, peer_id: str) -> PeerAd | None:
        """``peer_id``'s ad while it is fresh, else None."""
        entry = self._ads.get(peer_id)
        return entry if entry is not None and entry.fresh(self._now()) else None

    def remove(self, peer_id: str) -> None:
        """Forget ``peer_id``'s ad (banned, left the network, or its connection dropped)."""
        if self._ads.pop(peer_id, None) is not None:
            self._notify()

    def limit_unconnected(self, connected: set[str], grace_s: float) -> None:
        """Let the ad of every peer not in ``connected`` live at most ``grace_s`` after it arrived.

        A peer we hold no connection to may still be reachable through others: then its
        next ad arrives within a period and renews this one. If it vanished, its ad goes
        within the grace instead of attracting requests until its TTL runs out.
        """
        for peer_id, entry in list(self._ads.items()):
            if peer_id not in connected:
                deadline = entry.received_at + grace_s
                if deadline < entry.expires_at:
                    self._ads[peer_id] = PeerAd(entry.peer_id, entry.ad, entry.received_at, deadline)

    def prune(self) -> list[str]:
        """Drop expired ads; returns the peers whose ads went."""
        now = self._now()
        expired = [peer for peer, entry in self._ads.items() if not entry.fresh(now)]
        for peer in expired:
            del self._ads[peer]
        if expired:
            self._notify()
        return expired

    def _notify(self) -> None:
        self.changed.set()
        self.changed = trio.Event()


AdSink = Callable[[str, CapabilityAd, bytes], None]
"""(peer_id, verified ad, the signed envelope bytes): told about every accepted ad."""


class AdGossip:
    """Publishes our ad and ingests others' over gossipsub."""

    def __init__(
        self,
        host: IHost,
        signer: Signer,
        verifier: Verifier,
        board: AdBoard,
        network: str,
        make_ad: Callable[[], Awaitable[CapabilityAd]],
        *,
        republish_s: float,
        on_evidence: EvidenceSink,
        accept_peer: Callable[[str], bool] = lambda _peer: True,
        on_ad: AdSink = lambda _peer, _ad, _raw: None,
        check_ad: Callable[[str, CapabilityAd], bool] = lambda _peer, _ad: True,
        score_params: ScoreParams | None = None,
        joined: Callable[[], bool] = lambda: True,
        rng: random.Random | None = None,
    ) -> None:
        self._host = host
        self._signer = signer
        self._verifier = verifier
        self._board = board
        self._topic = ads_topic(network)
        self._make_ad = make_ad
        self._republish_s = republish_s
        self._on_evidence = on_evidence
        self._accept_peer = accept_peer
        self._on_ad = on_ad
        self._check_ad = check_ad  # e.g. proof of work (trust wiring)
        self._score_params = score_params  # gossipsub v1.1 peer scoring (trust wiring)
        self._joined = joined  # False while the network's ads still arrive (settling.py): model peers dialled sparingly
        self._wake = trio.Event()
        self._dialing: set[ID] = set()  # peers an ad made us dial, dial in flight (or waiting to go)
        self._rng = rng or random.Random()  # spreads dials of model peers beyond the count
        self._losses = LinkLosses()
        self._pubsub: Pubsub | None = None
        self._router: FloodPublishGossipSub | None = None
        self.ads_published = 0

    @property
    def pubsub(self) -> Pubsub | None:
        """The running pubsub (None before ``run``), for other topics such as trust opinions."""
        return self._pubsub

    def request_publish(self) -> None:
        """Publish soon (load changed, new peer connected, ...)."""
        self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Join the ads topic, publish this node's ad every ``republish_s`` and take in verified ads until cancelled."""
        install_record_cache()  # every pubsub message carries the sender's signed record: check it once
        router = ads_router(self._topic, score_params=self._score_params,
                            on_stale_own=lambda _topic: self.request_publish())
        pubsub = RoomyPubsub(self._host, router)  # bursts of ads are held, not dropped
        self._pubsub = pubsub
        self._router = router
        async with background_trio_service(pubsub), background_trio_service(router):
            await pubsub.wait_until_ready()
            subscription = await pubsub.subscribe(self._topic)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read_loop, subscription, nursery)
                nursery.start_soon(self._publish_loop)
                nursery.start_soon(self._watch_connections, nursery)
                nursery.start_soon(self._prune_loop)
                task_status.started()

    async def _publish_loop(self) -> None:
        assert self._pubsub is not None
        flooded: CapabilityAd | None = None  # what peers were last told at once
        while True:
            try:
                ad = await self._make_ad()
                sealed = seal(self._signer, ad, self._topic)
                tap_frame(sealed)
                news = _news(ad)
                if self._router is not None:
                    self._router.flood_next = news != flooded  # an unchanged republish spreads over the mesh
                await self._pubsub.publish(self._topic, sealed)
                flooded = news
                self.ads_published += 1
            except Exception:  # a failed publish must not end the daemon; retry next period
                log.exception("publishing our ad failed")
            with trio.move_on_after(self._republish_s):
                await self._wake.wait()
            self._wake = trio.Event()

    async def _watch_connections(self, nursery: trio.Nursery) -> None:
        """Re-dial a peer whose connection went, dropping its ad if that fails or the link flaps;
        limit the ads of peers we never connected to.

        One lost connection in ``FLAP_WINDOW_S`` keeps the ad while we re-dial (a reset on a
        busy machine no longer costs the peer its ad until its next period); a failed re-dial,
        or one whose connection is gone again within ``REDIAL_SETTLE_S``, drops it, and so does
        a second loss within the window: a peer cut off by a flapping link (``testnet fault
        drop``) still delivers fresh ads over connections that live for milliseconds, and keeping
        its ad on those made the cut never show (tests/testnet/test_links.py). A connection
        opened and closed between two polls counts as lost too (``closed_conns.py``).
        A node holds connections to few light peers, so most ads reach it relayed: those
        of peers it holds no connection to live ``DISCONNECTED_GRACE_PERIODS`` periods
        after they arrived (renewed by the next one), checked on every poll, so an ad
        that came over a connection opened and closed between two polls is limited too.
        """
        grace_s = DISCONNECTED_GRACE_PERIODS * self._republish_s
        half_open, silent = HalfOpenPeers(), HalfOpenPeers()
        closed = ClosedConnections()  # connections opened and closed between two polls count as lost too
        self._host.get_network().register_notifee(closed)
        while True:
            connections = self._host.get_network().get_connections_map()
            if self._pubsub is not None:
                await self._close_half_open(half_open, list(connections))
                self._reopen_silent(silent, list(connections), nursery)
            current = {peer.to_base58() for peer in connections}
            for peer in closed.lost_since_last_poll(connections):
                flapping = self._losses.lost(peer)
                if self._board.get(peer) is None:
                    continue
                if flapping or not self._redial(nursery, peer):
                    log.info("peer disconnected: dropping its ad", extra={"peer": peer, "flapping": flapping})
                    self._board.remove(peer)
                else:
                    log.info("peer disconnected: re-dialling, its ad kept meanwhile", extra={"peer": peer})
            self._board.limit_unconnected(current, grace_s)
            await trio.sleep(CONNECTION_POLL_S)

    def _redial(self, nursery: trio.Nursery, peer_b58: str) -> bool:
        """Re-dial a lost peer at its ad's addresses in the background; False when it has none."""
        entry = self._board.get(peer_b58)
        peer = ID.from_base58(peer_b58)
        addrs = ad_multiaddrs(peer_b58, entry.ad) if entry else []
        if not addrs:
            return False
        nursery.start_soon(self._redial_or_drop, PeerInfo(peer, addrs))
        return True

    async def _redial_or_drop(self, info: PeerInfo) -> None:
        peer_b58 = info.peer_id.to_base58()
        try:
            await dial_once(self._host, info.peer_id, lambda: info.addrs, timeout_s=AD_DIAL_TIMEOUT_S)
            await trio.sleep(REDIAL_SETTLE_S)
        except PeerUnreachable as exc:  # the peer may have dialled us meanwhile: asked below
            log.debug("lost peer unreachable", extra={"peer": peer_b58, "error": str(exc)[:300]})
        if not is_connected(self._host, info.peer_id):
            self._losses.lost(peer_b58)
            log.info("lost peer not back: dropping its ad", extra={"peer": peer_b58})
            self._board.remove(peer_b58)

    def _reopen_silent(self, silent: HalfOpenPeers, connected: list[ID], nursery: trio.Nursery) -> None:
        """Try our gossip stream again to peers that gossip with us in neither direction.

        When both sides' stream negotiations time out (two starved processes), neither learns
        the other's subscriptions, so the half-open rule never fires: in a 50-node run a light
        node whose only connection was such a link to its bootstrap hub held no ad for minutes,
        nor anyone its ad. Every ``HALF_OPEN_S`` such a peer gets one more attempt (py-libp2p
        gives up after a negotiation timeout); a peer that speaks no gossip refuses it at once.
        """
        assert self._pubsub is not None
        pubsub = self._pubsub
        subscribed = pubsub.peer_topics.get(self._topic, set())
        quiet = set(connected) - set(subscribed)
        for peer in silent.due(quiet, pubsub.peers, connected):
            nursery.start_soon(self._open_gossip_stream, peer)

    async def _open_gossip_stream(self, peer: ID) -> None:
        assert self._pubsub is not None
        with trio.move_on_after(AD_DIAL_TIMEOUT_S):
            try:
                await self._pubsub._handle_new_peer(peer)  # the library's own opener (hello, queue, catch-up)
            except Exception as exc:  # not a gossip peer, or gone: tried again after HALF_OPEN_S if still silent
                log.debug("gossip stream still not open", extra={"peer": peer.to_base58(), "error": str(exc)[:200]})

    async def _close_half_open(self, half_open: HalfOpenPeers, connected: list[ID]) -> None:
        """Close connections over which our gossip never got a stream (see half_open.py)."""
        assert self._pubsub is not None
        subscribed = self._pubsub.peer_topics.get(self._topic, set())
        for peer in half_open.due(subscribed, self._pubsub.peers, connected):
            log.info("our gossip stream to a peer never opened: closing the connection to redial",
                     extra={"peer": peer.to_base58()})
            with trio.move_on_after(2.0):
                await self._host.disconnect(peer)

    async def _prune_loop(self) -> None:
        while True:
            await trio.sleep(1.0)
            for peer in self._board.prune():
                log.info("ad expired", extra={"peer": peer})
                if self._router is not None:
                    self._router.forget(ID.from_base58(peer))

    async def _read_loop(self, subscription: object, nursery: trio.Nursery) -> None:
        me = self._host.get_id().to_bytes()
        while True:
            message = await subscription.get()  # type: ignore[attr-defined]
            origin = bytes(message.from_id)
            if origin == me:
                continue
            origin_b58 = ID(origin).to_base58()
            if not self._accept_peer(origin_b58):
                continue
            try:
                envelope = self._verifier.open(bytes(message.data), expected_sender=origin,
                                               expected_recipient=self._topic)
            except (ReplayedNonce, StaleTimestamp):
                # Gossip relays re-deliver old ads (two paths, or a restarted node's
                # mesh catching up): drop them, but they are not the origin's fault.
                continue
            except ProtocolError as exc:
                self._report(origin_b58, exc)
                continue
            ad = envelope.body
            if not isinstance(ad, CapabilityAd):
                self._report(origin_b58, UnexpectedMessage(f"{envelope.msg_type} on the ads topic"))
                continue
            if not self._check_ad(origin_b58, ad):
                continue
            current = self._board.get(origin_b58)
            if current is not None and current.ad.seq > ad.seq:
                continue  # relayed late: its addresses must not overwrite the newer ad's
            known = current is not None
            if self._router is not None:
                self._router.keep(message)  # handed to newcomers as this peer's latest ad
            if self._board.offer(origin_b58, ad):
                log.log(logging.DEBUG if known else logging.INFO, "ad received", extra={"peer": origin_b58, "seq": ad.seq})
            try:
                self._on_ad(origin_b58, ad, bytes(message.data))
            except Exception:  # a failing sink (full disk, ...) must not stop ad intake
                log.exception("recording an ad failed", extra={"peer": origin_b58})
            self._connect_soon(nursery, origin, ad)

    def _report(self, origin_b58: str, exc: ProtocolError) -> None:
        event = protocol_evidence(origin_b58, exc, ViolationSource.AD)
        if event is not None:
            self._on_evidence(event)

    def _connect_soon(self, nursery: trio.Nursery, origin: bytes, ad: CapabilityAd) -> None:
        """Dial the ad's signer at the ad's addresses, in the background, one dial per peer at a time.

        Peers that serve a model are dialed (questions go to them); a light peer only
        while we hold fewer than ``GOSSIP_PEERS_WANTED`` connections: its ad reaches us
        through the mesh anyway, and every node dialing every other made 50 light nodes
        spend their start-up in 1,225 handshakes. Until this node has joined (no new peer's
        ad for a few seconds, ``settling.py``) a model peer waits like a light one: 20
        SmolLM2 nodes joining together each dialled the other 19 (~190 handshakes on two
        cores while the ads spread; converged in 15.8-18.0 s, 10.0-13.4 s without them,
        session 12). A peer skipped then is dialed at its next ad, or by the first stream
        that needs it (``reach.py``). Once joined, a model peer beyond the count is dialed
        after a random wait of up to ``MODEL_DIAL_SPREAD_S``. The fresh signed ad is the authority on
        where its signer listens now (it may have restarted on a new port): ``dial``
        replaces what libp2p remembers. Only addresses naming the signer are used, so an
        ad cannot redirect our dials to another peer. A dead address takes ~0.7 s to fail;
        dialing inline would stall ad intake.
        """
        peer = ID(origin)
        if peer in self._dialing or is_connected(self._host, peer):
            return
        # Dials in flight count: a newcomer is handed every ad at once, and counting open
        # connections alone let it dial every light peer in the hand-over before the first connected.
        busy = len(self._host.get_network().get_connections_map()) + len(self._dialing) >= GOSSIP_PEERS_WANTED
        if busy and (not ad.models or not self._joined()):
            return
        addrs = ad_multiaddrs(peer.to_base58(), ad)
        if addrs:
            self._dialing.add(peer)
            # Both sides dial at once: a side that waited (to avoid simultaneous dials) could not
            # be asked anything during the wait (no address known to libp2p: 'No known addresses').
            # Only a model peer beyond the count waits, so that a network's nodes do not all
            # dial it in the same second (MODEL_DIAL_SPREAD_S).
            wait_s = self._rng.uniform(0.0, MODEL_DIAL_SPREAD_S) if busy else 0.0
            nursery.start_soon(self._dial_ad_peer, PeerInfo(peer, addrs), wait_s)

    async def _dial_ad_peer(self, info: PeerInfo, wait_s: float = 0.0) -> None:
        try:  # one dial per peer: a stream's dial of the same peer (reach.py) is waited for
            await trio.sleep(wait_s)  # a connection made meanwhile (either side, a stream) ends it at once
            await dial_once(self._host, info.peer_id, lambda: info.addrs, timeout_s=AD_DIAL_TIMEOUT_S)
        except PeerUnreachable as exc:
            log.debug("peer from an ad unreachable", extra={"peer": info.peer_id.to_base58(), "error": str(exc)[:300]})
        finally:
            self._dialing.discard(info.peer_id)
