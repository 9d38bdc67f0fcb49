"""Shared probing: each newcomer is probed by a few nodes chosen by hash, not by all N."""

from __future__ import annotations

from pathlib import Path

import trio
from peermind.node.trust_wiring import CanaryDeck
from peermind.node.trust_wiring._probe_share import (
    PROBERS_PER_PEER,
    VOUCH_GRACE_S,
    ProbeShare,
    probers_of,
)
from peermind.node.trust_wiring._verification import STARTUP_PROBES
from test_trust_verification import ME, Network, _candidate, _items, _verification, gold, liar


def _ids(n: int) -> list[str]:
    return ["12D3KooWNode" + "".join("abcdefghij"[int(d)] for d in f"{i:02d}") for i in range(n)]


def test_every_node_tells_alone_whether_it_probes_a_newcomer_and_k_of_them_do() -> None:
    nodes = _ids(20)
    for newcomer in nodes:
        probers = [n for n in nodes if ProbeShare(n, vouched=lambda _p: True).is_prober(newcomer, nodes)]
        assert len(probers) == PROBERS_PER_PEER and newcomer not in probers
        assert set(probers) == probers_of(newcomer, reversed(nodes))  # order of the ads does not matter
    # the work is spread: nobody probes a large share of the network
    load = {n: sum(n in probers_of(x, nodes) for x in nodes) for n in nodes}
    assert sum(load.values()) == PROBERS_PER_PEER * len(nodes) and max(load.values()) <= 8


def test_a_small_network_probes_as_before_every_node_probes_every_other() -> None:
    nodes = _ids(PROBERS_PER_PEER + 1)
    assert all(ProbeShare(n, vouched=lambda _p: True).is_prober(x, nodes) for n in nodes for x in nodes if x != n)


def _network_of(n: int, tmp_path: Path, vouched: set[str]):  # type: ignore[no-untyped-def]
    canaries = _items(40)
    net = Network(canaries)
    peers = [p for p in _ids(n) if p != ME][: n - 1]
    net.behaviour = {ME: gold, **{p: gold for p in peers}}
    v, ledger, _registry = _verification(net, canary_rate=0.0)
    everyone = [_candidate(ME, local=True), *(_candidate(p) for p in peers)]
    v._candidates = lambda: everyone
    v.probe_share = ProbeShare(ME, vouched=lambda p: p in vouched, now=trio.current_time)
    v.deck = CanaryDeck(canaries, tmp_path / "screen.json", "smollm2")
    return v, net, peers, [c.peer_id for c in everyone]


async def test_a_node_of_twenty_probes_only_the_newcomers_it_is_a_prober_of(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    v, net, peers, nodes = _network_of(20, tmp_path, vouched=set(_ids(20)) - {ME})
    mine = {p for p in peers if ME in probers_of(p, nodes)}
    assert 0 < len(mine) < len(peers)
    with trio.move_on_after(VOUCH_GRACE_S * 3):
        await v.probe_newcomers(10.0, lambda: True)
    probed = {p for p, _ in net.calls}
    assert probed == mine  # the network vouches for the rest: no probe of ours
    assert all(sum(1 for p, _ in net.calls if p == x) >= STARTUP_PROBES for x in mine)


async def test_a_peer_nobody_vouches_for_is_probed_by_every_node_after_the_grace(
        tmp_path: Path, autojump_clock: trio.abc.Clock) -> None:
    v, net, peers, nodes = _network_of(20, tmp_path, vouched=set())
    strangers = [p for p in peers if ME not in probers_of(p, nodes)]
    net.behaviour[strangers[0]] = liar
    start = trio.current_time()
    first: dict[str, float] = {}

    async def timed(job, candidate, timeout_s):  # type: ignore[no-untyped-def]
        first.setdefault(candidate.peer_id, trio.current_time() - start)
        return await net.attempt(job, candidate, timeout_s)

    v._attempt = timed
    with trio.move_on_after(VOUCH_GRACE_S * 4):
        await v.probe_newcomers(10.0, lambda: True)
    assert strangers[0] in first and first[strangers[0]] >= VOUCH_GRACE_S
    assert not v._should_ask(strangers[0])  # the liar is excluded here too, without its probers' word
    assert min(first[p] for p in peers if p not in strangers) < VOUCH_GRACE_S
