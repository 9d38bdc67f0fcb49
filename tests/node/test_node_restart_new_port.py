"""Real daemons restarted with their data dirs on new ports find each other again.

Nothing is wiped: each restarted node first redials the addresses its store remembers,
some of them dead (the other peer moved too), then learns the fresh ones from ads
relayed by a node that stayed up. py-libp2p 0.8.1 used to block a peer ID for 60 s
after such a failed dial and keep the dead address first in line, so the two restarted
nodes never connected to each other directly (see node/p2p/host.py ``dial``).
"""

from __future__ import annotations

import json
import signal

import pytest
from nodeproc import NodeCluster, NodeProc, wait_for

pytestmark = pytest.mark.integration


def _connected(node: NodeProc) -> set[str]:
    return set(node.get("/status").json()["connected"])


def _stored_addrs(node: NodeProc, peer: NodeProc) -> list[str]:
    rows = node.db_rows("SELECT addrs FROM peers WHERE peer_id = ?", (peer.peer_id,))
    return list(json.loads(rows[0][0])) if rows else []


def _stop(node: NodeProc) -> None:
    node.send(signal.SIGTERM)
    assert node.wait_exit() == 0, node.log_tail()


def test_two_peers_restarted_on_new_ports_reconnect_without_wiping_their_stores(cluster: NodeCluster) -> None:
    a = cluster.start("a")
    b = cluster.spawn("b", bootstrap=a.addrs)
    c = cluster.spawn("c", bootstrap=a.addrs)
    b.wait_ready()
    c.wait_ready()
    wait_for(lambda: c.peer_id in _connected(b) and b.peer_id in _connected(c), timeout_s=30,
             what="b and c to connect through a's gossip")
    wait_for(lambda: _stored_addrs(b, c) == c.addrs, timeout_s=15, what="b to store c's address")
    old_b, old_c = b.addrs, c.addrs

    _stop(b)
    _stop(c)
    b2 = cluster.start("b", bootstrap=a.addrs)  # same data dir; redials c's dead address from its store
    c2 = cluster.start("c", bootstrap=a.addrs)  # redials b's dead address from its store
    assert b2.peer_id == b.peer_id and c2.peer_id == c.peer_id
    assert b2.addrs != old_b and c2.addrs != old_c

    wait_for(lambda: c2.peer_id in _connected(b2) and b2.peer_id in _connected(c2), timeout_s=20,
             what="the restarted b and c to connect to each other directly")
    wait_for(lambda: {b2.peer_id, c2.peer_id} <= a.peers() and c2.peer_id in b2.peers() and b2.peer_id in c2.peers(),
             timeout_s=20, what="every node to hold the others' fresh ads")
    # The stores now hold the new addresses, so the next restart dials those first.
    wait_for(lambda: _stored_addrs(b2, c2) == c2.addrs and _stored_addrs(c2, b2) == b2.addrs, timeout_s=15,
             what="the stores to hold the fresh addresses")
