"""A private network on real processes: members join by signed invite, an outsider is refused.

Three members share a secret (the first node's from the environment, the others' from its
invite token); an outsider on the same network name without the secret dials in. Its ads
and its tasks are refused with the typed reason ``not_member``, logged once, while the
members keep answering each other.
"""

from __future__ import annotations

import pytest
from nodeproc import NodeCluster, peermind, wait_for

pytestmark = pytest.mark.integration

SECRET = "club-secret-1"
REFUSAL_LOG = "refused a peer this network does not admit"


def test_outsiders_get_no_work_and_no_ads_accepted_in_a_private_network(cluster: NodeCluster) -> None:
    a = cluster.start("a", network="club", env={"PEERMIND_NETWORK_SECRET": SECRET})
    invite = peermind("invite", "--api", a.api_url.removeprefix("http://"), "--ttl-hours", "1")
    assert invite.returncode == 0, invite.stderr
    token = invite.stdout.strip()
    assert token.startswith("pmi2.") and SECRET not in token  # base64: not readable at a glance
    b = cluster.spawn("b", extra=["--join", token])
    c = cluster.spawn("c", extra=["--join", token])
    outsider = cluster.spawn("outsider", network="club", bootstrap=a.addrs)  # no secret
    for node in (b, c, outsider):
        node.wait_ready()
    members = (a, b, c)
    wait_for(lambda: all({m.peer_id for m in members} - {n.peer_id} <= n.peers() for n in members),
             timeout_s=60, what="the members to hold each other's ads")
    # the outsider, on an open network of the same name, accepts the members' ads and asks them
    wait_for(lambda: a.peer_id in outsider.peers(), timeout_s=30, what="the outsider to see a member")
    for node in members:  # the outsider's ads arrive and are refused, never stored
        wait_for(lambda n=node: n.get("/status").json()["membership"]["refusals"].get("not_member"),
                 timeout_s=30, what=f"{node.name} to refuse the outsider's ad")
        assert outsider.peer_id not in node.peers()
        assert node.get("/status").json()["membership"]["private"] is True

    refused = outsider.post("/peermind/ask", {"question": "What is 2+2?", "max_tokens": 8, "peer": a.peer_id,
                                              "mode": "route"})
    assert refused.status_code >= 400 and "not_member" in refused.text, refused.text
    served = b.post("/peermind/ask", {"question": "What is 2+2?", "max_tokens": 8, "peer": c.peer_id,
                                      "mode": "route"})
    assert served.status_code == 200, served.text
    assert served.json()["provenance"]["answered_by"] == c.peer_id
    # each refusal is typed and logged once per peer and reason, without a traceback
    lines = [line for line in a.log_text().splitlines() if REFUSAL_LOG in line and outsider.peer_id in line]
    assert len(lines) == 1 and "not_member" in lines[0], lines
    assert "Traceback" not in a.log_text()
