"""A network with admitting peers on real processes: an admission from `peermind admit` lets a
member in; a node without one gets the typed ``not_member`` on ads and tasks, logged once.

The admitter runs the model; the member and the outsider are light nodes (they only ask).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from nodeproc import NodeCluster, peermind, wait_for

pytestmark = pytest.mark.integration

REFUSAL_LOG = "refused a peer this network does not admit"


def test_a_member_admitted_by_an_admitting_peer_gets_work_and_an_outsider_does_not(cluster: NodeCluster) -> None:
    # CLI calls that do not depend on each other run side by side, and the admitter loads its
    # model while the others run: each CLI process spends ~2 s importing (the test's budget)
    names = ("a", "b", "outsider")
    with ThreadPoolExecutor(len(names)) as pool:
        made = list(pool.map(lambda name: peermind("keys", "new", "--data-dir", str(cluster.root / name)), names))
    for done in made:
        assert done.returncode == 0, done.stderr
    ids = {name: done.stdout.strip() for name, done in zip(names, made, strict=True)}
    admitters = ["--set", f"network_admitters={ids['a']}"]
    a = cluster.spawn("a", network="guild", extra=admitters)
    with ThreadPoolExecutor(2) as pool:
        # only an admitting peer may admit: anyone else gets one line, no traceback
        refusing = pool.submit(peermind, "admit", ids["outsider"], "--data-dir", str(cluster.root / "b"),
                               "--network", "guild", env={"PEERMIND_NETWORK_ADMITTERS": ids["a"]})
        admitting = pool.submit(peermind, "admit", ids["b"], "--data-dir", str(cluster.root / "a"), "--network",
                                "guild", "--ttl-hours", "1", env={"PEERMIND_NETWORK_ADMITTERS": ids["a"]})
        refused, admitted = refusing.result(), admitting.result()
    assert refused.returncode == 2 and "not one of network_admitters" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert admitted.returncode == 0, admitted.stderr
    admission = admitted.stdout.strip()
    assert admission.startswith("pma1.")

    a.wait_ready()
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
