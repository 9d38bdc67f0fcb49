"""Ban enforcement: blacklist in gossip, disconnect (not in a reconnect loop), forget, lift."""

from __future__ import annotations

from typing import Any

from libp2p.peer.id import ID
from peermind.node.trust_wiring import BanEnforcer, TrustMetrics
from peermind.protocol import Signer
from peermind.trust import Evidence, EvidenceRecord, GlobalTrust, ReputationBook, TrustParams
from prometheus_client import CollectorRegistry

BAD, GOOD = Signer.generate(), Signer.generate()


class Clock:
    def __init__(self) -> None:
        self.t = 10_000.0

    def __call__(self) -> float:
        return self.t


class FakeNetwork:
    def __init__(self, peers: list[ID]) -> None:
        self.connected = {p: object() for p in peers}

    def get_connections_map(self) -> dict[ID, Any]:
        return dict(self.connected)


class FakeHost:
    def __init__(self, peers: list[ID]) -> None:
        self.network = FakeNetwork(peers)
        self.disconnects: list[str] = []

    def get_network(self) -> FakeNetwork:
        return self.network

    async def disconnect(self, peer: ID) -> None:
        self.disconnects.append(peer.to_base58())
        self.network.connected.pop(peer, None)


class FakePubsub:
    def __init__(self) -> None:
        self.blacklist: set[str] = set()

    def add_to_blacklist(self, peer: ID) -> None:
        self.blacklist.add(peer.to_base58())

    def remove_from_blacklist(self, peer: ID) -> None:
        self.blacklist.discard(peer.to_base58())


async def test_banned_peers_are_disconnected_blacklisted_and_forgotten_until_the_ban_ends() -> None:
    clock = Clock()
    book = ReputationBook(TrustParams(), now=clock)
    global_trust = GlobalTrust()
    global_trust.update_opinion(BAD.peer_id_b58, 1, {GOOD.peer_id_b58: 1.0})
    host, pubsub = FakeHost([ID(BAD.peer_id), ID(GOOD.peer_id)]), FakePubsub()
    forgotten: list[str] = []
    enforcer = BanEnforcer(book, TrustMetrics(CollectorRegistry()), global_trust, host=host,
                           pubsub=lambda: pubsub, forget_ad=forgotten.append, forget_limits=lambda _p: None)
    for _ in range(3):
        book.record(EvidenceRecord(BAD.peer_id_b58, Evidence.PROTOCOL_VIOLATION, at=clock.t, detail="bad_signature: x"))
    await enforcer.enforce()
    assert host.disconnects == [BAD.peer_id_b58]
    assert pubsub.blacklist == {BAD.peer_id_b58} and forgotten == [BAD.peer_id_b58]
    assert global_trust.opinion_of(BAD.peer_id_b58) is None
    # it dials straight back: not disconnected again within the minute (its streams are refused anyway)
    host.network.connected[ID(BAD.peer_id)] = object()
    await enforcer.enforce()
    assert host.disconnects == [BAD.peer_id_b58]
    clock.t += 2 * 3600  # the cool-down is over
    await enforcer.enforce()
    assert pubsub.blacklist == set() and GOOD.peer_id_b58 not in host.disconnects
