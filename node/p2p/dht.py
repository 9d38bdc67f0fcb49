"""Kademlia provider records: "which peers serve model X / skill Y", beyond our gossip mesh.

Ads reach the peers we are connected to; the DHT answers the question for the whole
network without a connection to every peer. Each node provides one record per model,
skill and tag it advertises, under a key namespaced by network
(``sha256("peermind/<network>/<kind>/<name>")`` as a multihash), so nodes of other
networks never match. py-libp2p 0.8.1 ignores ``protocol_prefix`` (the stream protocol
is always ``/ipfs/kad/1.0.0``), which is why the namespace lives in the key.

Everything here is off the hot path: the DHT starts after the host and before any dial
(peers that connect must find the KAD handler), lookups run under a timeout, and a node
alone (no peers) keeps working: its own records are answered locally.

Trap handling (shared/notes/libp2p-0.8.1.md): the routing table is fed explicitly with
every connected peer (the DHT does not watch connections itself), ``find_providers``
results are deduplicated, and value records are refused in our namespace (we store
none; strict validation keeps peers from using our nodes as free storage).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import trio
from libp2p.abc import IHost
from libp2p.kad_dht import DHTMode, KadDHT
from libp2p.kad_dht.utils import sort_peer_ids_by_distance
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.records.validator import Validator
from libp2p.tools.anyio_service import background_trio_service

from ..errors import NodeError

log = logging.getLogger("peermind.node.dht")

PROVIDE_KINDS = ("model", "skill", "tag")
RECORD_NAMESPACE = "peermind"
CONNECTION_POLL_S = 0.25
REPROVIDE_MIN_INTERVAL_S = 2.0
REPROVIDE_MAX_INTERVAL_S = 120.0
FIND_TIMEOUT_S = 5.0
LOOKUP_ROUNDS = 4
LOOKUP_WIDTH = 8
PEER_QUERY_TIMEOUT_S = 2.0
JOIN_POLL_S = 1.0
"""How often a node still joining checks whether it may re-provide (see ``_provide_loop``)."""

# The library logs a warning each time a peer closes a DHT stream normally.
logging.getLogger("libp2p.kad_dht").setLevel(logging.ERROR)


class DhtError(NodeError):
    """A provider lookup was malformed or the DHT is not running."""


def provider_key(network: str, kind: str, name: str) -> str:
    """The DHT key (hex multihash, sha2-256) under which providers of ``kind/name`` register."""
    if kind not in PROVIDE_KINDS:
        raise DhtError(f"provider kind must be one of {', '.join(PROVIDE_KINDS)}, not {kind!r}")
    if not name or len(name) > 128:
        raise DhtError("provider name must be 1-128 characters")
    digest = hashlib.sha256(f"peermind/{network}/{kind}/{name}".encode()).hexdigest()
    return "1220" + digest


class _NoValues(Validator):
    """Our namespace holds no value records: refuse any a peer tries to store."""

    def validate(self, key: str, value: bytes) -> None:
        raise ValueError(f"peermind nodes store no DHT values ({key!r} refused)")

    def select(self, key: str, values: list[bytes]) -> int:
        return 0


@dataclass(frozen=True)
class Provider:
    """A peer that provides a key, with the addresses to dial it at."""

    peer_id: str
    addrs: tuple[str, ...]


class ProviderIndex:
    """Runs a server-mode DHT on ``host``; provides ``provides`` and answers ``find``."""

    def __init__(self, host: IHost, network: str, provides: Sequence[tuple[str, str]],
                 *, joined: Callable[[], bool] = lambda: True) -> None:
        self._host = host
        self._joined = joined  # False while the network's ads still arrive (settling.py)
        self._network = network
        self._keys = [provider_key(network, kind, name) for kind, name in provides]
        self._dht: KadDHT | None = None
        self._rt_grew = trio.Event()
        self.provided_rounds = 0

    @property
    def routing_table_size(self) -> int:
        """Peers in the DHT's routing table (0 while it is not running), for status."""
        return self._dht.get_routing_table_size() if self._dht else 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the DHT, keep its routing table fed and this node's keys provided, until cancelled."""
        dht = KadDHT(self._host, DHTMode.SERVER, strict_validation=True)
        dht.register_validator(RECORD_NAMESPACE, _NoValues())
        self._dht = dht
        try:
            async with background_trio_service(dht), trio.open_nursery() as nursery:
                nursery.start_soon(self._feed_routing_table)
                nursery.start_soon(self._provide_loop)
                task_status.started()
        finally:
            self._dht = None

    async def _feed_routing_table(self) -> None:
        """Add every connected peer to the routing table (the DHT does not do it itself)."""
        assert self._dht is not None
        known: set[ID] = set()
        while True:
            current = set(self._host.get_network().get_connections_map().keys())
            added = False
            for peer in current - known:
                try:
                    added = await self._dht.add_peer(peer) or added
                except Exception:  # a peer without addresses yet: retried on the next poll
                    current.discard(peer)
            known = current
            if added:
                self._rt_grew.set()
            await trio.sleep(CONNECTION_POLL_S)

    async def _provide_loop(self) -> None:
        """Provide our keys at start and again whenever the routing table grows.

        The first ``provide`` of a node that has no peers yet stores the record only
        locally; re-providing when peers arrive pushes it to the closest peers. The wait
        between re-provides doubles (2 s up to ``REPROVIDE_MAX_INTERVAL_S``): each one is a
        lookup that dials the closest peers, and at 2 s a node starting among 20 re-provided
        with every new connection, dialing every peer in the network (88 of the ~230 dials
        of a 20-node testnet's start-up). While the node is still joining (new peers' ads
        arriving), re-provides wait: their lookups dialled and queried peers in the seconds
        every node needed for the ads (a profile of a 20-node start-up found DHT lookups in
        the join window, session 12), and a record a few seconds late costs nothing that
        the ads do not already carry.
        """
        interval = REPROVIDE_MIN_INTERVAL_S
        while True:
            await self._provide_all()
            await self._rt_grew.wait()
            self._rt_grew = trio.Event()
            await trio.sleep(interval)
            while not self._joined():  # noqa: ASYNC110 - a condition of the ad board, no event to wait on
                await trio.sleep(JOIN_POLL_S)
            interval = min(2 * interval, REPROVIDE_MAX_INTERVAL_S)

    async def _provide_all(self) -> None:
        assert self._dht is not None
        for key in self._keys:
            try:
                with trio.move_on_after(FIND_TIMEOUT_S):
                    await self._dht.provide(key)
            except Exception as exc:  # the DHT is best effort; ads still work
                log.warning("providing a DHT record failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        self.provided_rounds += 1

    async def find(self, kind: str, name: str, *, timeout_s: float = FIND_TIMEOUT_S, count: int = 20) -> list[Provider]:
        """Peers that registered as providers of ``kind/name`` on our network (deduplicated).

        Not ``KadDHT.find_providers``: in 0.8.1 it returns the local records alone as soon
        as there is one, so a node that serves model X itself would only ever find the
        providers that happened to push their record to it. This lookup merges the local
        records with an iterative GET_PROVIDERS walk over the closest peers (the library's
        per-peer query, pinned with the library version in pyproject).
        """
        dht = self._dht
        if dht is None:
            raise DhtError("the DHT is not running (disabled with dht=false, or the node is stopping)")
        key = bytes.fromhex(provider_key(self._network, kind, name))
        store = dht.provider_store
        found: dict[str, Provider] = {}

        def take(infos: Sequence[PeerInfo]) -> None:
            for info in infos:
                peer = info.peer_id.to_base58()
                if peer not in found:  # the library returns duplicates
                    found[peer] = Provider(peer, tuple(str(a) for a in info.addrs))

        take(store.get_providers(key))
        queried: set[ID] = {self._host.get_id()}
        candidates = dht.routing_table.find_local_closest_peers(key, count)
        with trio.move_on_after(timeout_s):
            for _round in range(LOOKUP_ROUNDS):
                batch = [p for p in candidates if p not in queried][:LOOKUP_WIDTH]
                if not batch:
                    break
                queried.update(batch)
                closer: list[ID] = []

                async def ask(peer: ID, closer: list[ID] = closer) -> None:
                    with trio.move_on_after(PEER_QUERY_TIMEOUT_S):
                        try:
                            providers, nearer = await store._get_providers_from_peer_with_closers(peer, key)
                        except Exception as exc:  # an unreachable peer is not the caller's problem
                            log.debug("provider query failed", extra={"peer": peer.to_base58(), "error": str(exc)})
                            return
                        take(providers)
                        closer.extend(nearer)

                async with trio.open_nursery() as nursery:
                    for peer in batch:
                        nursery.start_soon(ask, peer)
                candidates = sort_peer_ids_by_distance(key, [p for p in set(closer) if p not in queried])
        return list(found.values())[:count]
