"""The console on real node processes: every section reads the daemon through its typed port."""

from __future__ import annotations

import pytest
from nodeproc import NodeCluster, wait_for

pytestmark = pytest.mark.integration

SECTIONS = ("node", "topology", "answers", "tasks", "trust", "training", "events")


def test_console_state_of_a_real_node_reads_its_live_trust_book(cluster: NodeCluster) -> None:
    a = cluster.start("a")
    b = cluster.start("b", bootstrap=a.addrs)
    wait_for(lambda: b.peer_id in a.peers(), timeout_s=60, what="b's ad at a")
    state = a.get("/console/state").json()
    failed = {name: state[name] for name in SECTIONS if isinstance(state[name], dict) and "error" in state[name]}
    assert failed == {}
    assert state["node"]["peer_id"] == a.peer_id and state["node"]["model"]
    assert state["trust"]["live_book"] is True and state["trust"]["global_available"] is True
    row = state["trust"]["peers"][b.peer_id]  # a known peer gets a live row before any evidence
    assert row["source"] == "live" and 0.0 <= row["score"] <= 1.0 and row["standing"]
    assert b.peer_id in {n["peer_id"] for n in state["topology"]["nodes"]}
    assert state["events"]["available"] is True
