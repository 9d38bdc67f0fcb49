"""A fresh mixed network with trust on uses its peers from the first minute.

Real node processes (SmolLM2 entry node, a Gemma-3 peer, a second SmolLM2 peer), every
trust and learning setting at its default: no seeding, no injected rows, no trust switched
off. After a minute of idle time (probes judge the newcomers, idle learning labels rows),
a quarter of multiple-choice questions in ``route`` mode must be answered by a peer
other than the entry node (a peer whose evidence is still thin gets its exploration share;
issue 12's goal of 30% is measured by ``peermind bench coldstart``), and no honest peer may be excluded.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from nodeproc import NodeCluster, NodeProc, wait_for
from peermind.bench import load_items, mc_context, mc_continuations

pytestmark = pytest.mark.integration

DEFAULTS = ("--set", "trust.canary_rate=0.05", "--set", "trust.probe_interval_s=10",
            "--set", "trust.cross_check_rate=0.05", "--set", "router.learn_interval_s=20")
"""The shipped defaults (later flags win over the cluster's deterministic settings)."""
WARM_UP_S = 60.0
QUESTIONS = 20


def route(node: NodeProc, item: Any) -> dict[str, Any]:
    body = {"context": mc_context(item), "continuations": list(mc_continuations(item)), "mode": "route"}
    r = node.post("/peermind/score", body, timeout=180)
    assert r.status_code == 200, r.text
    return dict(r.json()["provenance"])


def test_a_fresh_honest_network_routes_to_its_peers_within_a_minute(cluster: NodeCluster) -> None:
    entry = cluster.start("entry", extra=DEFAULTS)
    gemma = cluster.start("gemma", model="gemma3-270m", bootstrap=entry.addrs, extra=DEFAULTS)
    small = cluster.start("small", bootstrap=entry.addrs, extra=DEFAULTS)
    wait_for(lambda: {gemma.peer_id, small.peer_id} <= entry.peers(), timeout_s=60, what="the entry node to see both ads")
    time.sleep(WARM_UP_S)

    answers = [route(entry, item) for item in load_items("arc_easy", "test", limit=QUESTIONS)]
    elsewhere = [a for a in answers if a["answered_by"] != entry.peer_id]
    print(f"{len(elsewhere)}/{len(answers)} answered by a peer; reasons: {[a['reason'] for a in answers[:3]]}")
    # The goal (>= 30%) is a figure of `peermind bench coldstart` (docs/results/coldstart.*); runs here gave
    # 8-18 of 20. The bar sits a little lower so that one unlucky draw of early rows does not fail CI,
    # while a policy that keeps the questions on the entry node (0 of 5 in one run before the
    # exploration share) still does.
    assert len(elsewhere) >= 5, [a["reason"] for a in answers]

    trust = {row["peer"]: row for row in entry.get("/peermind/trust").json()["peers"]}
    for peer in (gemma, small):
        assert trust[peer.peer_id]["standing"] not in ("do_not_ask", "banned"), trust[peer.peer_id]

    labelled = entry.db_rows("SELECT COUNT(*) FROM feedback WHERE correct IS NOT NULL")[0][0]
    assert labelled > 0  # idle work became router rows without a user command
