"""Proof of work on real nodes: solved once and stored, required of peers' ads."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from nodeproc import NodeCluster, wait_for

pytestmark = pytest.mark.integration

POW = ["--pow-bits", "12"]  # the flag as a user types it


def test_ads_without_the_networks_proof_of_work_are_ignored(cluster: NodeCluster) -> None:
    a = cluster.start("a", extra=POW)
    b = cluster.spawn("b", bootstrap=a.addrs, extra=POW)
    lazy = cluster.spawn("lazy", bootstrap=a.addrs, extra=["--pow-bits", "0"])
    b.wait_ready()
    lazy.wait_ready()
    wait_for(lambda: b.peer_id in a.peers() and a.peer_id in b.peers(), timeout_s=60, what="a and b to see each other")
    stored = json.loads((a.data_dir / "trust-pow.json").read_text())
    assert stored["peer_id"] == a.peer_id and stored["bits"] == 12
    # the node without proof of work sees the others, they never accept its ad
    wait_for(lambda: {a.peer_id, b.peer_id} <= lazy.peers(), timeout_s=60, what="lazy to hold the others' ads")
    time.sleep(6)  # more than one republish period of the lazy node
    assert lazy.peer_id not in a.peers() and lazy.peer_id not in b.peers()
    row = next(r for r in httpx.get(f"{a.api_url}/peermind/trust", timeout=10).json()["peers"] if r["peer"] == lazy.peer_id)
    assert row["counts"] == {"protocol_violation": 1}  # reported once, however many ads it sends
