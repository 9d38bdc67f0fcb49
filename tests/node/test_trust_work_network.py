"""Work allowances on real nodes: a peer's long generations are metered in tokens, not requests."""

from __future__ import annotations

import pytest
from nodeproc import NodeCluster, wait_for
from peermind.node.client import ApiRequestFailed, NodeClient

pytestmark = pytest.mark.integration

# a's budget for any peer: 400 tokens at once and 2 tokens/s when trusted; a newcomer gets a
# quarter (100 tokens, 0.5/s). a judges nobody (no canaries, probes or idle learning), so b
# stays a newcomer there and its allowance does not move during the test.
METERED = ["--set", "trust.work_rate=2", "--set", "trust.work_burst=400", "--set", "trust.canary_rate=0",
           "--set", "trust.probe_interval_s=0", "--set", "router.learn_interval_s=0"]


def test_a_peers_long_generations_are_refused_by_tokens_with_a_typed_refusal(cluster: NodeCluster) -> None:
    a = cluster.start("a", extra=METERED)
    b = cluster.start("b", bootstrap=a.addrs)
    wait_for(lambda: a.peer_id in b.peers() and b.peer_id in a.peers(), timeout_s=60, what="a and b to see each other")
    with NodeClient(b.api_url) as client:
        first = client.ask("Name three colours.", mode="route", max_tokens=90, peer=a.peer_id)
        assert first.provenance["answered_by"] == a.peer_id  # a full bucket runs one big task
        with pytest.raises(ApiRequestFailed, match="rate_limited"):
            client.ask("Name three animals.", mode="route", max_tokens=90, peer=a.peer_id)
    with NodeClient(a.api_url) as client:
        explained = client.trust_explain(b.peer_id)
    assert explained["work_allowance"] == {"tokens_per_s": 0.5, "burst": 100.0}
    assert explained["requester_conduct"]["factor"] == 1.0  # it asked once more, not while told to wait
    assert a.metric("peermind_trust_refusals_total", reason="rate_limited") >= 1
