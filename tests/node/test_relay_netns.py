"""NAT traversal on real processes in Linux network namespaces (issue 18).

Node ``a`` and node ``b`` live in namespaces that share no link and no route; both reach
the relay ``r`` (``node run --relay``). ``b`` sits behind a NAT of sorts: it listens on an
address nobody can route to and connects out from another one, so AutoNAT (asked of
``r``) tells it ``private``; it then reserves a slot on ``r`` (``relay.via``) and advertises
only its ``/p2p-circuit`` address. Phase 1:
a question asked on ``a`` is answered by ``b`` through ``r``, and ``peermind status`` on
``a`` shows the path as ``relay``. Phase 2: a direct link between the two appears; the
relayed connection is upgraded (DCUtR) and the next answer comes over the direct path.
``peermind bench relay`` runs literally, on four nodes (one asker relayed, one direct).
Skipped, with the reason, only where ``ip netns`` cannot be used (no root, no iproute2).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from peermind.testnet._netns import unavailable
from peermind.testnet._relay_net import RelayNet, peermind_cmd

WHY_NOT = unavailable()
pytestmark = [pytest.mark.skipif(WHY_NOT is not None, reason=f"network namespaces unavailable: {WHY_NOT}")]

QUESTION = "What is the capital of France?"


def test_answer_through_relay_then_over_the_hole_punched_direct_path(tmp_path: Path) -> None:
    with RelayNet(tmp_path, ["a", "b"], behind_nat=["b"]) as net:
        b_id = net.nodes["b"].peer_id

        def relayed_ad_of_b() -> bool:  # b's ad, gossiped through r, once b holds its reservation
            ads = {p["peer_id"]: p for p in net.status("a")["peers"]}
            return b_id in ads and bool(ads[b_id]["addrs"])

        net.wait_for("b's relayed ad on a", relayed_ad_of_b, 40)
        ad = next(p for p in net.status("a")["peers"] if p["peer_id"] == b_id)
        assert all("/p2p-circuit/p2p/" + b_id in addr for addr in ad["addrs"]), ad["addrs"]
        b_relay = net.status("b")["relay"]
        assert b_relay["reachability"] == "auto" and b_relay["verdict"] == "private"
        assert b_relay["private"] is True and b_relay["reservations"][0]["held"] is True
        assert net.topology.run("a", ["ping", "-c1", "-W1", net.nodes["b"].ip]).returncode != 0  # no route a -> b

        relayed = net.ask("a", QUESTION, peer="b")
        assert relayed.answered_by == b_id and relayed.text
        assert net.path("a", "b") == "relay"
        r_relay = net.status("r")["relay"]
        assert r_relay["serve"] is True and r_relay["reserved_here"] == 1
        assert net.status("a")["relay"]["verdict"] == "public"  # a listens where r sees it

        net.open_direct_path("a", "b")
        net.wait_for("a direct connection a -> b", lambda: net.path("a", "b") == "direct", 30)
        direct = net.ask("a", QUESTION, peer="b")
        assert direct.answered_by == b_id and direct.text
        assert net.path("a", "b") == "direct"


@pytest.mark.slow
def test_bench_relay_command_measures_both_paths(tmp_path: Path) -> None:
    out = tmp_path / "relay.json"
    done = subprocess.run(peermind_cmd("bench", "relay", "--rounds", "1", "--dir", str(tmp_path / "net"),
                                       "--out", str(out)), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["paths_before"] == result["paths_after"] == {"a->b": "relay", "c->b": "direct"}
    assert result["summary"]["n"] == 1 and len(result["relayed_overhead_ms"]) == 1
    assert result["relayed_ms"][0] > result["relayed_overhead_ms"][0] > 0
    assert "Added by the relay" in done.stdout and out.with_suffix(".md").read_text() == done.stdout
