"""A network with admitting peers on real processes: an admission from `peermind admit` lets a
member in; a node without one gets the typed ``not_member`` on ads and tasks, logged once.

The admitter runs the model; the member and the outsider are light nodes (they only ask).
"""

from __future__ import annotations

import pytest
from nodeproc import NodeCluster, peermind, wait_for

pytestmark = pytest.mark.integration

REFUSAL_LOG = "refused a peer this network does not admit"


def test_a_member_admitted_by_an_admitting_peer_gets_work_and_an_outsider_does_not(cluster: NodeCluster) -> None:
    ids = {}
    for name in ("a", "b", "outsider"):
        made = peermind("keys", "new", "--data-dir", str(cluster.root / name))
        assert made.returncode == 0, made.stderr
        ids[name] = made.stdout.strip()
    admitters = ["--set", f"network_admitters={ids['a']}"]
    # only an admitting peer may admit: anyone else gets one line, no traceback
    refused = peermind("admit", ids["outsider"], "--data-dir", str(cluster.root / "b"), "--network", "guild",
                       env={"PEERMIND_NETWORK_ADMITTERS": ids["a"]})
    assert refused.returncode == 2 and "not one of network_admitters" in refused.stderr
    assert "Traceback" not in refused.stderr
    admitted = peermind("admit", ids["b"], "--data-dir", str(cluster.root / "a"), "--network", "guild",
                        "--ttl-hours", "1", env={"PEERMIND_NETWORK_ADMITTERS": ids["a"]})
    assert admitted.returncode == 0, admitted.stderr
    admission = admitted.stdout.strip()
    assert admission.startswith("pma1.")

    a = cluster.start("a", network="guild", extra=admitters)
    b = cluster.spawn("b", network="guild", model="none", bootstrap=a.addrs,
                      extra=[*admitters, "--set", f"network_admission={admission}"])
    outsider = cluster.spawn("outsider", network="guild", model="none", bootstrap=a.addrs, extra=admitters)
    for node in (b, outsider):
        node.wait_ready()
    wait_for(lambda: b.peer_id in a.peers() and a.peer_id in b.peers(), timeout_s=60,
             what="the admitter and the member to hold each other's ads")
    wait_for(lambda: a.get("/status").json()["membership"]["refusals"].get("not_member"), timeout_s=30,
             what="the admitter to refuse the outsider's ad")
    assert outsider.peer_id not in a.peers()
    status = a.get("/status").json()["membership"]
    assert status["private"] is True and status["admitters"] == [ids["a"]]

    wait_for(lambda: a.peer_id in outsider.peers(), timeout_s=30, what="the outsider to see the admitter")
    denied = outsider.post("/peermind/ask", {"question": "What is 2+2?", "max_tokens": 8, "peer": a.peer_id,
                                             "mode": "route"})
    assert denied.status_code >= 400 and "not_member" in denied.text, denied.text
    served = b.post("/peermind/ask", {"question": "What is 2+2?", "max_tokens": 8, "peer": a.peer_id,
                                      "mode": "route"})
    assert served.status_code == 200, served.text
    assert served.json()["provenance"]["answered_by"] == a.peer_id
    lines = [line for line in a.log_text().splitlines() if REFUSAL_LOG in line and outsider.peer_id in line]
    assert len(lines) == 1 and "not_member" in lines[0], lines
    assert "not admitted on its network" in outsider.log_text()  # it is told where it can be fixed
    for node in (a, b, outsider):
        assert "Traceback" not in node.log_text()
