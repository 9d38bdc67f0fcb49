"""Idle probes on real node processes: with no user question asked, a node vouches for its peer."""

from __future__ import annotations

import pytest
from nodeproc import NodeCluster, wait_for

pytestmark = pytest.mark.integration

PROBING = ("--set", "trust.probe_interval_s=1")  # later flags win over the cluster's probe_interval_s=0


def _answer_right(asker, peer_id: str) -> float:  # type: ignore[no-untyped-def]
    rows = asker.get("/peermind/trust").json()["peers"]
    row = next((r for r in rows if r["peer"] == peer_id), None)
    return (row or {}).get("counts", {}).get("answer_right", 0)


def test_an_idle_node_probes_its_newcomer_peer_with_canaries(cluster: NodeCluster) -> None:
    a = cluster.start("a", extra=PROBING)
    b = cluster.start("b", bootstrap=a.addrs, extra=PROBING)
    wait_for(lambda: _answer_right(a, b.peer_id) >= 2, timeout_s=90, what="a's probes of b answered right")
    assert a.metric("peermind_trust_canaries_total", outcome="right") >= 2
    assert a.metric("peermind_trust_canaries_total", outcome="wrong") == 0  # an honest peer on the same model
