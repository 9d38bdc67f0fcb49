"""Joining networks: invite tokens, network separation, mDNS, and the API token."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from nodeproc import NodeCluster, peermind, wait_for

pytestmark = pytest.mark.integration


def test_invite_token_joins_the_inviters_network_and_other_networks_stay_apart(cluster: NodeCluster) -> None:
    host = cluster.start("host", network="blue")
    invite = peermind("invite", "--api", host.api_url.removeprefix("http://"))
    assert invite.returncode == 0, invite.stderr
    token = invite.stdout.strip()
    assert token.startswith("pmi2.")  # signed by the host's key, with an expiry (node/invite.py)
    # A token altered in transit, or past its expiry, is refused in one line before anything starts.
    payload, signature = token.removeprefix("pmi2.").split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["x"] += 3600  # a longer life than the inviter signed
    forged = "pmi2." + base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=") + "." + signature
    expiring = peermind("invite", "--api", host.api_url.removeprefix("http://"), "--ttl-hours", "0.0003")
    assert expiring.returncode == 0, expiring.stderr
    time.sleep(2)
    for bad, why in ((forged, "does not verify"), (expiring.stdout.strip(), "expired")):
        run = peermind("node", "run", "--data-dir", str(cluster.root / "refused"), "--join", bad)
        assert run.returncode != 0 and why in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr

    # The joiner is told nothing but the token: network name and addresses come from it.
    joiner = cluster.spawn("joiner", network="ignored-by-join", extra=["--join", token])
    # An outsider dials the same node but lives on another network.
    outsider = cluster.spawn("outsider", network="green", bootstrap=host.addrs)
    joiner.wait_ready()
    outsider.wait_ready()
    assert joiner.state["network"] == "blue"

    wait_for(lambda: joiner.peer_id in host.peers() and host.peer_id in joiner.peers(), timeout_s=30, what="the joiner and host to exchange ads")
    # The outsider is connected to host (it bootstrapped to it) but never trades ads with the blue network.
    wait_for(lambda: host.peer_id in outsider.get("/status").json()["connected"], timeout_s=15, what="the outsider's connection")
    time.sleep(3)  # several ad periods and gossip heartbeats
    for node in (host, joiner):
        assert outsider.peer_id not in node.peers()
        models = node.get("/v1/models").json()["data"]
        assert all(outsider.peer_id not in m["peers"] for m in models)
    assert outsider.peers() == set()
    # Nor does the DHT leak: the outsider's provider record lives under another network's key.
    providers = {p["peer_id"] for p in joiner.get("/peermind/providers?model=smollm2").json()["providers"]}
    assert outsider.peer_id not in providers and host.peer_id in providers


def test_mdns_finds_peers_without_any_bootstrap_address(cluster: NodeCluster) -> None:
    a = cluster.spawn("a", extra=["--mdns"])
    b = cluster.spawn("b", extra=["--mdns"])
    a.wait_ready()
    b.wait_ready()
    wait_for(lambda: b.peer_id in a.peers() and a.peer_id in b.peers(), timeout_s=30, what="mDNS discovery")
    assert a.get("/status").json()["discovery"]["mdns"] is True


def test_api_token_is_enforced_when_set(cluster: NodeCluster) -> None:
    node = cluster.start("locked", token="s3cret-token")
    url = node.api_url
    assert httpx.get(url + "/status", timeout=10).status_code == 401
    wrong = httpx.get(url + "/status", headers={"authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
    assert httpx.post(url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}, timeout=10).status_code == 401
    assert node.get("/status").status_code == 200  # with the token
    # The CLI reads the token from the environment like the node does.
    status = peermind("status", "--api", url.removeprefix("http://"), env={"PEERMIND_API_TOKEN": "s3cret-token"})
    assert status.returncode == 0 and node.peer_id in status.stdout
