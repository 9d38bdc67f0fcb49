"""A connection opened and closed between two polls of the ad gossip still counts as lost.

Real py-libp2p hosts on loopback. A peer cut off by a flapping link reconnects for a few
milliseconds at a time and hands over a fresh ad each time; when the poller never saw the
connection, that ad lived on for the disconnected grace and the cut stayed invisible.
"""

from __future__ import annotations

import secrets

import pytest
import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from peermind.node.p2p import ads as ads_module
from peermind.node.p2p.ads import AdBoard
from peermind.node.p2p.closed_conns import ClosedConnections
from peermind.node.p2p.host import dial, full_addrs, is_connected, parse_peer_addr, running_host
from test_p2p_ads_flood import _advertising

pytestmark = pytest.mark.integration

LISTEN = ["/ip4/127.0.0.1/tcp/0"]
POLL_S = 4.0  # longer than the peer below stays connected: only the swarm's notice can tell


async def test_each_lost_connection_counts_once_whether_the_poll_or_the_swarm_saw_it_first() -> None:
    async with running_host(create_new_key_pair(), LISTEN) as a, running_host(create_new_key_pair(), LISTEN) as b, \
            running_host(create_new_key_pair(), LISTEN) as c:
        network = a.get_network()
        closed = ClosedConnections()
        network.register_notifee(closed)
        b_id, c_id = b.get_id().to_base58(), c.get_id().to_base58()
        await dial(a, parse_peer_addr(full_addrs(b)[0]))
        assert closed.lost_since_last_poll(network.get_connections_map()) == set()
        # seen by the poll first: the swarm drops the connection from its table at once, notifies later
        await a.disconnect(b.get_id())
        assert closed.lost_since_last_poll(network.get_connections_map()) == {b_id}
        await trio.sleep(0.5)  # the swarm's notice has come by now
        assert closed.lost_since_last_poll(network.get_connections_map()) == set()  # not a second loss
        # opened and closed between two polls: only the swarm's notice tells
        await dial(a, parse_peer_addr(full_addrs(c)[0]))
        await a.disconnect(c.get_id())
        await trio.sleep(0.5)
        assert closed.lost_since_last_poll(network.get_connections_map()) == {c_id}
        assert closed.lost_since_last_poll(network.get_connections_map()) == set()


async def test_an_ad_that_came_over_a_connection_the_poller_never_saw_goes_when_its_peer_is_gone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ads_module, "CONNECTION_POLL_S", POLL_S)
    network = f"t{secrets.token_hex(3)}"
    board_a = AdBoard()
    async with _advertising(network, create_new_key_pair(), board_a) as a:
        async with _advertising(network, create_new_key_pair(), AdBoard()) as b:  # connects after a's first poll, gone before its second
            b_id = b.get_id().to_base58()
            await dial(b, parse_peer_addr(full_addrs(a)[0]))
            with trio.fail_after(POLL_S):
                while board_a.get(b_id) is None:  # noqa: ASYNC110 - no event for one peer's ad
                    await trio.sleep(0.02)
        assert not is_connected(a, b.get_id())
        # a's next poll hears of the closed connection, cannot re-dial b, and drops its ad long
        # before the disconnected grace (4 republish periods of 120 s) would have
        with trio.fail_after(POLL_S + 6):
            while board_a.get(b_id) is not None:  # noqa: ASYNC110
                await trio.sleep(0.05)
