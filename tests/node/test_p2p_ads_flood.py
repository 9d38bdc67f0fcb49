"""Ads spread at scale: flood publishing of own ads, the newcomer hand-over, disconnect grace, dial policy.

Unit tests drive ``FloodPublishGossipSub`` and ``AdGossip`` with small fakes standing in for
the pubsub and the host; the last test runs real py-libp2p hosts on loopback sockets in
this process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import random
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import pytest
import trio
from libp2p.abc import IHost
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from peermind.node.p2p.ads import (
    GOSSIP_PEERS_WANTED,
    GOSSIP_PROTOCOLS,
    MODEL_DIAL_SPREAD_S,
    AdBoard,
    AdGossip,
    _news,
    ads_router,
    ads_topic,
)
from peermind.node.p2p.flood import FloodPublishGossipSub
from peermind.node.p2p.host import dial, full_addrs, is_connected, parse_peer_addr, running_host
from peermind.protocol import CapabilityAd, ModelInfo, Signer, Verifier

TOPIC = "peermind/t/ads/1"
OTHER_TOPIC = "peermind/t/trust/1"


def _peer() -> ID:
    return ID.from_pubkey(create_new_key_pair().public_key)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _router(me: ID, subscribed: set[ID], mesh: set[ID], clock: _Clock | None = None,
            on_stale_own: list[str] | None = None) -> tuple[FloodPublishGossipSub, list[tuple[ID, rpc_pb2.RPC]]]:
    """A router attached to a fake pubsub in which ``subscribed`` peers follow both topics."""
    stale = on_stale_own if on_stale_own is not None else []
    router = FloodPublishGossipSub(GOSSIP_PROTOCOLS, flood_topics=[TOPIC], max_age_s=15.0,  # type: ignore[arg-type]
                                   on_stale_own=stale.append, clock=clock or _Clock(),
                                   degree=6, degree_low=4, degree_high=12)
    router.pubsub = SimpleNamespace(my_id=me, peer_topics={TOPIC: set(subscribed), OTHER_TOPIC: set(subscribed)},
                                    peers={p: object() for p in subscribed})  # type: ignore[assignment]
    for peer in subscribed:
        router.peer_protocol[peer] = GOSSIP_PROTOCOLS[0]  # type: ignore[assignment]
    router.mesh = {TOPIC: set(mesh), OTHER_TOPIC: set(mesh)}
    sent: list[tuple[ID, rpc_pb2.RPC]] = []
    router.send_rpc = lambda peer, rpc, priority=False: sent.append((peer, rpc))  # type: ignore[method-assign]
    return router, sent


def _msg(origin: ID, seqno: int, topic: str = TOPIC) -> rpc_pb2.Message:
    return rpc_pb2.Message(from_id=origin.to_bytes(), seqno=seqno.to_bytes(8, "big"), data=b"ad", topicIDs=[topic])


def test_own_messages_on_a_flooded_topic_go_to_every_subscribed_peer_not_only_the_mesh() -> None:
    """A node pruned from every mesh (empty mesh) still gets its own ad out."""
    me, a, b, c = _peer(), _peer(), _peer(), _peer()
    router, _sent = _router(me, subscribed={a, b, c}, mesh=set())
    assert set(router._get_peers_to_send([TOPIC], me, me)) == {a, b, c}
    # others' messages are forwarded along the mesh only, and never back to their origin
    router.mesh[TOPIC] = {b}
    assert set(router._get_peers_to_send([TOPIC], a, c)) == {b}
    assert set(router._get_peers_to_send([TOPIC], a, b)) == set()
    # topics not named keep gossipsub's mesh-only publishing
    assert set(router._get_peers_to_send([OTHER_TOPIC], me, me)) == set()


def test_an_unchanged_republish_goes_to_the_mesh_alone_unless_the_mesh_is_too_small() -> None:
    """Flooding is for news: with ``flood_next`` off our own message takes the mesh, as anyone's would."""
    me = _peer()
    others = [_peer() for _ in range(8)]
    router, _sent = _router(me, subscribed=set(others), mesh=set(others[:5]))
    assert set(router._get_peers_to_send([TOPIC], me, me)) == set(others)
    router.flood_next = False
    assert set(router._get_peers_to_send([TOPIC], me, me)) == set(others[:5])
    router.mesh[TOPIC] = set(others[:3])  # below degree_low: the mesh alone may not carry it
    assert set(router._get_peers_to_send([TOPIC], me, me)) == set(others)


def test_only_a_new_or_changed_ad_is_flooded() -> None:
    """Sequence number and free RAM change on every republish; they are not news."""
    ad = CapabilityAd(network="t", ttl_s=60, seq=1, ram_mb=1000)
    assert _news(dataclasses.replace(ad, seq=2, ram_mb=990)) == _news(ad)
    assert _news(dataclasses.replace(ad, seq=2, queue_depth=1)) != _news(ad)
    assert _news(dataclasses.replace(ad, seq=2, addrs=["/ip4/1.2.3.4/tcp/1"])) != _news(ad)


def test_a_newcomer_is_handed_the_latest_message_of_each_origin_but_its_own_and_none_too_old() -> None:
    me, a, b, newcomer = _peer(), _peer(), _peer(), _peer()
    clock = _Clock()
    router, sent = _router(me, subscribed={a, b, newcomer}, mesh={a}, clock=clock)
    router.keep(_msg(a, 1))
    router.keep(_msg(a, 2))  # a's latest replaces its older one
    router.keep(_msg(newcomer, 7))  # the newcomer's own ad (from an earlier life) is not sent back
    clock.now += 20.0
    router.keep(_msg(me, 3))
    router.keep(_msg(b, 4, topic=OTHER_TOPIC))  # not a flooded topic: not held
    clock.now += 5.0  # a's is now 25 s old: past max_age_s, not handed over

    trio.run(router.send_recent_messages, newcomer, TOPIC)

    assert [(peer, [(m.from_id, m.seqno) for m in rpc.publish]) for peer, rpc in sent] == [
        (newcomer, [(me.to_bytes(), (3).to_bytes(8, "big"))])]
    assert router.replayed == 1


def test_the_catch_up_of_recent_messages_goes_to_a_new_subscriber_as_one_rpc() -> None:
    """py-libp2p writes each cached message as its own RPC (a Noise message and a send each)."""
    me, a, b, newcomer = _peer(), _peer(), _peer(), _peer()
    router, sent = _router(me, subscribed={newcomer}, mesh=set())
    for seqno, origin in enumerate((a, b, a), start=1):
        router.mcache.put(_msg(origin, seqno))
    router.mcache.put(_msg(b, 9, topic=OTHER_TOPIC))  # another topic's: not in this catch-up
    router.catch_up(newcomer, TOPIC)
    assert [(peer, sorted(int.from_bytes(m.seqno, "big") for m in rpc.publish)) for peer, rpc in sent] == [
        (newcomer, [1, 2, 3])]
    sent.clear()
    router.catch_up(_peer(), TOPIC)  # no stream to it yet: nothing (pubsub replays once there is)
    assert sent == []


def test_a_stale_own_message_asks_for_a_fresh_publish_instead_of_being_replayed() -> None:
    me, newcomer = _peer(), _peer()
    clock, stale = _Clock(), []
    router, sent = _router(me, subscribed={newcomer}, mesh=set(), clock=clock, on_stale_own=stale)
    router.keep(_msg(me, 1))
    clock.now += 16.0
    trio.run(router.send_recent_messages, newcomer, TOPIC)
    assert sent == [] and stale == [TOPIC]


def test_the_hand_over_waits_and_skips_a_connection_that_flashed_up_and_went() -> None:
    """``testnet fault drop`` cuts connections every 50 ms: such a flash must not renew ads."""
    me, a, flash, stays = _peer(), _peer(), _peer(), _peer()
    router, sent = _router(me, subscribed={a, flash, stays}, mesh=set())
    router.handover_delay_s = 0.01
    later: list[tuple[object, tuple[object, ...]]] = []
    router._manager = SimpleNamespace(run_task=lambda fn, *args: later.append((fn, args)))  # type: ignore[attr-defined]
    router.keep(_msg(a, 1))
    for peer in (flash, stays):
        trio.run(router.send_recent_messages, peer, TOPIC)
    assert sent == [] and len(later) == 2  # nothing inline
    del router.pubsub.peers[flash]  # type: ignore[union-attr]
    for fn, args in later:
        trio.run(fn, *args)  # type: ignore[arg-type]
    assert [peer for peer, _rpc in sent] == [stays]


def test_forgotten_origins_are_not_handed_over_and_the_held_set_is_bounded() -> None:
    from peermind.node.p2p.flood import REPLAY_MAX

    me, gone, newcomer = _peer(), _peer(), _peer()
    router, sent = _router(me, subscribed={newcomer}, mesh=set())
    router.keep(_msg(gone, 1))
    router.forget(gone)
    trio.run(router.send_recent_messages, newcomer, TOPIC)
    assert sent == []
    for _ in range(REPLAY_MAX + 5):
        router.keep(_msg(_peer(), 1))
    assert len(router._latest[TOPIC]) == REPLAY_MAX


def test_the_ad_of_a_peer_we_are_not_connected_to_lives_a_grace_after_arrival_unless_renewed() -> None:
    clock = _Clock()
    board = AdBoard(now=clock)
    ad = CapabilityAd(network="t", addrs=[], ttl_s=60, seq=1)
    for peer in ("connected", "gone", "through-others"):
        board.offer(peer, ad)
    clock.now += 5.0
    board.limit_unconnected({"connected"}, 12.5)
    board.limit_unconnected({"connected"}, 30.0)  # never lengthens
    clock.now += 7.0
    assert {e.peer_id for e in board.fresh()} == {"connected", "gone", "through-others"}
    board.offer("through-others", CapabilityAd(network="t", addrs=[], ttl_s=60, seq=2))  # its next ad, via others
    clock.now += 1.0
    board.limit_unconnected({"connected"}, 12.5)
    assert {e.peer_id for e in board.fresh()} == {"connected", "through-others"}
    assert board.prune() == ["gone"]
    clock.now += 40.0
    board.limit_unconnected({"connected"}, 12.5)
    assert {e.peer_id for e in board.fresh()} == {"connected"}  # a connected peer's ad lives its TTL


class _FakeHost:
    """Just what the dial policy reads: our ID and the connections map."""

    def __init__(self, me: ID, connected: int) -> None:
        self._me = me
        self.connections = {_peer(): [object()] for _ in range(connected)}
        self.dialled: list[ID] = []

    def get_peerstore(self) -> object:  # where a dial begins (host.dial): none is expected
        self.dialled.append(self._me)
        raise AssertionError("a dial was made")

    def get_id(self) -> ID:
        return self._me

    def get_network(self) -> _FakeHost:
        return self

    def get_connections_map(self) -> dict[ID, list[object]]:
        return self.connections

    def get_connections(self, peer: ID) -> list[object]:
        return self.connections.get(peer, [])


class _Nursery:
    def __init__(self) -> None:
        self.started: list[tuple[object, ...]] = []

    def start_soon(self, *args: object) -> None:
        self.started.append(args)


def _dials(me: ID, connected: int, origin: ID, ad: CapabilityAd, *, joined: bool = True) -> list[tuple[object, ...]]:
    async def never() -> CapabilityAd:
        raise AssertionError("not publishing in this test")

    gossip = AdGossip(_FakeHost(me, connected), Signer.generate(), Verifier(), AdBoard(), "t", never,  # type: ignore[arg-type]
                      republish_s=5.0, on_evidence=lambda *_a: None, joined=lambda: joined)
    nursery = _Nursery()
    gossip._connect_soon(nursery, origin.to_bytes(), ad)  # type: ignore[arg-type]
    return nursery.started


def _ad_of(peer: ID, models: list[ModelInfo]) -> CapabilityAd:
    return CapabilityAd(network="t", addrs=[f"/ip4/127.0.0.1/tcp/4001/p2p/{peer.to_base58()}"], ttl_s=60, seq=1,
                        models=models)


def test_light_peers_are_dialed_only_while_we_have_few_connections_model_peers_always() -> None:
    lower, higher = sorted((_peer() for _ in range(2)), key=lambda p: p.to_bytes())
    model = [ModelInfo(name="smollm2")]
    light_ad = _ad_of(higher, [])
    assert len(_dials(lower, GOSSIP_PEERS_WANTED - 1, higher, light_ad)) == 1
    assert _dials(lower, GOSSIP_PEERS_WANTED, higher, light_ad) == []
    assert len(_dials(lower, GOSSIP_PEERS_WANTED, higher, _ad_of(higher, model))) == 1
    # of two peers hearing each other at once, both dial at once: a side that waited could not be
    # asked anything meanwhile (tests/node/test_relay_netns.py failed whenever the asker had the higher ID)
    (_fn, info_a, wait_a), = _dials(lower, 0, higher, _ad_of(higher, model))
    (_fn, info_b, wait_b), = _dials(higher, 0, lower, _ad_of(lower, model))
    assert (info_a.peer_id, info_b.peer_id) == (higher, lower)
    assert wait_a == wait_b == 0.0  # below the count nobody waits


def test_while_the_network_s_ads_still_arrive_model_peers_are_dialed_only_below_the_count() -> None:
    """20 SmolLM2 nodes joining at once each dialled all 19 model peers (~190 handshakes on two
    cores) while ads spread; until the node has settled, a model peer waits like a light one."""
    me, origin = _peer(), _peer()
    model_ad = _ad_of(origin, [ModelInfo(name="smollm2")])
    assert len(_dials(me, GOSSIP_PEERS_WANTED - 1, origin, model_ad, joined=False)) == 1
    assert _dials(me, GOSSIP_PEERS_WANTED, origin, model_ad, joined=False) == []
    assert len(_dials(me, GOSSIP_PEERS_WANTED, origin, model_ad, joined=True)) == 1  # its next ad, once settled
    assert _dials(me, GOSSIP_PEERS_WANTED, origin, _ad_of(origin, []), joined=True) == []


def test_model_peers_beyond_the_count_are_dialed_after_a_random_wait_spread_over_seconds() -> None:
    """50 nodes that joined together all dialled each model peer within a second of its next ad
    (~35 new connections per model node while the last ads spread); beyond the count, each waits."""
    me, origin = _peer(), _peer()
    model_ad = _ad_of(origin, [ModelInfo(name="smollm2")])
    (_fn, _info, below), = _dials(me, GOSSIP_PEERS_WANTED - 1, origin, model_ad)
    assert below == 0.0
    waits = [wait for _ in range(200) for (_fn, _info, wait) in _dials(me, GOSSIP_PEERS_WANTED, origin, model_ad)]
    assert len(waits) == 200 and all(0.0 <= w <= MODEL_DIAL_SPREAD_S for w in waits)
    assert max(waits) - min(waits) > MODEL_DIAL_SPREAD_S / 2  # spread, not one shared delay


async def test_a_waiting_model_dial_is_dropped_once_a_connection_stands(autojump_clock: trio.testing.MockClock) -> None:
    """A connection made during the wait (the peer dialled us, or a question needed it) ends the wait without a dial."""
    me, origin = _peer(), _peer()
    host = _FakeHost(me, GOSSIP_PEERS_WANTED)

    async def never() -> CapabilityAd:
        raise AssertionError("not publishing in this test")

    gossip = AdGossip(host, Signer.generate(), Verifier(), AdBoard(), "t", never,  # type: ignore[arg-type]
                      republish_s=5.0, on_evidence=lambda *_a: None, rng=random.Random(1))
    async with trio.open_nursery() as nursery:
        gossip._connect_soon(nursery, origin.to_bytes(), _ad_of(origin, [ModelInfo(name="smollm2")]))  # type: ignore[arg-type]
        await trio.sleep(0.001)
        assert origin in gossip._dialing
        host.connections[origin] = [object()]  # the peer dialled us meanwhile
    assert origin not in gossip._dialing and host.dialled == []


def test_dials_in_flight_count_towards_the_light_peers_wanted() -> None:
    """A newcomer handed 19 light peers' ads at once dialed all 19 before the first connection stood
    (20-node testnets: every node held a connection to every other, ~21 each, not ~8)."""
    me = _peer()

    async def never() -> CapabilityAd:
        raise AssertionError("not publishing in this test")

    gossip = AdGossip(_FakeHost(me, 1), Signer.generate(), Verifier(), AdBoard(), "t", never,  # type: ignore[arg-type]
                      republish_s=5.0, on_evidence=lambda *_a: None)
    nursery = _Nursery()
    for _ in range(19):
        origin = _peer()
        gossip._connect_soon(nursery, origin.to_bytes(), _ad_of(origin, []))  # type: ignore[arg-type]
    assert len(nursery.started) == GOSSIP_PEERS_WANTED - 1
    model_peer = _peer()
    gossip._connect_soon(nursery, model_peer.to_bytes(), _ad_of(model_peer, [ModelInfo(name="smollm2")]))  # type: ignore[arg-type]
    assert len(nursery.started) == GOSSIP_PEERS_WANTED  # once joined, a model peer is dialed whatever the count


# ----------------------------------------------------------------- real hosts


@asynccontextmanager
async def _advertising(network: str, key_pair: KeyPair, board: AdBoard) -> AsyncIterator[IHost]:
    """A host that publishes its ad once at start and then only every 120 s."""
    seq = itertools.count(int(time.time() * 1000))
    async with running_host(key_pair, ["/ip4/127.0.0.1/tcp/0"]) as host, trio.open_nursery() as nursery:

        async def make_ad() -> CapabilityAd:
            return CapabilityAd(network=network, addrs=full_addrs(host), ttl_s=300, seq=next(seq))

        gossip = AdGossip(host, Signer.from_libp2p(key_pair), Verifier(), board, network, make_ad,
                          republish_s=120.0, on_evidence=lambda *_a: None)
        await nursery.start(gossip.run)
        yield host
        with trio.CancelScope(shield=True):  # close the host before its pubsub (see test_p2p_redial)
            await host.close()
        nursery.cancel_scope.cancel()


async def test_a_newcomer_joining_through_one_peer_holds_every_ad_without_waiting_for_a_republish(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Hub H and light peers A, B published seconds ago (next period in 120 s); D joins through H alone.

    With one connection enough, nobody dials the light newcomer or is dialed by it, as in a
    big network. Before, D got only H's ad (H republished on the new connection) and waited
    a whole period for the others; now H hands D the latest ad of every peer it holds, and
    D's own ad reaches A and B through H.
    """
    monkeypatch.setattr("peermind.node.p2p.ads.GOSSIP_PEERS_WANTED", 1)
    network = f"t{secrets.token_hex(3)}"
    boards = [AdBoard() for _ in range(4)]
    keys = [create_new_key_pair() for _ in range(4)]
    ids = {ID.from_pubkey(k.public_key).to_base58() for k in keys}

    def holds_all(i: int) -> bool:
        return {e.peer_id for e in boards[i].fresh()} == ids - {ID.from_pubkey(keys[i].public_key).to_base58()}

    async with _advertising(network, keys[0], boards[0]) as hub, \
            _advertising(network, keys[1], boards[1]) as a, _advertising(network, keys[2], boards[2]) as b:
        for peer in (a, b):
            await dial(peer, parse_peer_addr(full_addrs(hub)[0]))
        with trio.fail_after(20):
            while not all(len(boards[i].fresh()) == 2 for i in range(3)):  # noqa: ASYNC110 - boards are plain objects
                await trio.sleep(0.05)
        await trio.sleep(3.5)  # past the library's own catch-up window (3 heartbeats)
        async with _advertising(network, keys[3], boards[3]) as d:
            await dial(d, parse_peer_addr(full_addrs(hub)[0]))
            with trio.fail_after(10):
                while not all(holds_all(i) for i in range(4)):  # noqa: ASYNC110
                    await trio.sleep(0.05)
            assert not is_connected(d, a.get_id()) and not is_connected(d, b.get_id())  # all through H


async def test_unchanged_republishes_still_reach_every_peer_over_the_mesh_and_records_are_checked_once() -> None:
    """Six real hosts, each connected to all: meshes reach degree_low, so an unchanged ad is no longer
    flooded by its origin but forwarded along the mesh; every node must still get every peer's
    next ads, and the senders' signed peer records must mostly skip re-verification."""
    from peermind.node.p2p.record_cache import install

    cache = install()
    skipped_before = cache.checks_skipped
    network = f"t{secrets.token_hex(3)}"
    keys = [create_new_key_pair() for _ in range(6)]
    boards = [AdBoard() for _ in keys]
    gossips: list[AdGossip] = []
    async with contextlib.AsyncExitStack() as stack:
        hosts = []
        for key, board in zip(keys, boards, strict=True):
            host = await stack.enter_async_context(running_host(key, ["/ip4/127.0.0.1/tcp/0"]))
            nursery = await stack.enter_async_context(trio.open_nursery())
            seq = itertools.count(int(time.time() * 1000))

            async def make_ad(host: IHost = host, seq: Iterator[int] = seq) -> CapabilityAd:
                return CapabilityAd(network=network, addrs=full_addrs(host), ttl_s=300, seq=next(seq))

            gossip = AdGossip(host, Signer.from_libp2p(key), Verifier(), board, network, make_ad,
                              republish_s=1.0, on_evidence=lambda *_a: None)
            await nursery.start(gossip.run)
            stack.push_async_callback(_close_first, host, nursery)
            hosts.append(host)
            gossips.append(gossip)
        for i, host in enumerate(hosts):
            for other in hosts[i + 1:]:
                await dial(host, parse_peer_addr(full_addrs(other)[0]))
        with trio.fail_after(20):
            while not all(len(b.fresh()) == 5 for b in boards):  # noqa: ASYNC110 - boards are plain objects
                await trio.sleep(0.05)
        await trio.sleep(4.0)  # meshes form on heartbeats (1 s)
        assert all(g._router is not None and len(g._router.mesh.get(ads_topic(network), ())) >= 4 for g in gossips)
        seen = [{e.peer_id: e.ad.seq for e in b.fresh()} for b in boards]
        published = [g.ads_published for g in gossips]
        await trio.sleep(3.5)
        assert all(g.ads_published >= p + 2 for g, p in zip(gossips, published, strict=True))
        assert all(g._router is not None and not g._router.flood_next for g in gossips)  # mesh-only republishes
        for before, board in zip(seen, boards, strict=True):
            now = {e.peer_id: e.ad.seq for e in board.fresh()}
            assert now.keys() == before.keys() and all(now[p] > before[p] for p in now), (before, now)
    assert cache.checks_skipped > skipped_before


async def _close_first(host: IHost, nursery: trio.Nursery) -> None:
    with trio.CancelScope(shield=True):  # close the host before its pubsub (see test_p2p_redial)
        await host.close()
    nursery.cancel_scope.cancel()


async def test_the_ads_router_keeps_its_one_second_heartbeat_when_the_library_rates_the_network_poorly(
        autojump_clock: trio.testing.MockClock) -> None:
    """py-libp2p's adaptive gossip set a 60 s heartbeat on a network it rated below 0.7 (a joining one rated ~0.55).

    The rating is forced to what joining networks got (docs/results/scale-s14.md); the router
    must still beat every second, so meshes are trimmed and the recent-message window moves.
    """
    router = ads_router(TOPIC, score_params=None, on_stale_own=lambda _topic: None)
    beats = 0

    def count_beat() -> tuple[dict[ID, list[str]], dict[ID, list[str]]]:
        nonlocal beats
        beats += 1
        return {}, {}

    async def send_nothing(*_args: object) -> None:
        pass

    router.mesh_heartbeat = count_beat  # type: ignore[method-assign]
    router.gossip_heartbeat = dict  # type: ignore[method-assign,assignment]
    router._emit_control_msgs = send_nothing  # type: ignore[method-assign]
    router.last_health_update = 0  # the library's rating is due at once
    router._update_network_health = lambda: setattr(router, "network_health_score", 0.55)  # type: ignore[method-assign]
    with trio.move_on_after(120):
        await router.heartbeat()
    assert router.heartbeat_interval == 1
    assert beats >= 110  # ~120 beats; at 60 s after the first rating there would be ~3
