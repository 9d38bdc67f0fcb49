"""A private network on real processes: members join by signed invite, an outsider is refused.

Three members share a secret (the first node's from the environment, the others' from its
invite token); an outsider on the same network name without the secret dials in. Its ads
and its tasks are refused with the typed reason ``not_member``, logged once, while the
members keep answering each other.
"""

from __future__ import annotations

import itertools
import time

import pytest
import trio
from libp2p.crypto.ed25519 import create_new_key_pair
from nodeproc import NodeCluster, NodeProc, peermind, wait_for
from peermind.node.p2p.ads import AdBoard, AdGossip
from peermind.node.p2p.host import dial, parse_peer_addr, running_host
from peermind.protocol import (
    FL_PROTOCOL_ID,
    CapabilityAd,
    Signer,
    TaskOffer,
    TrainInvite,
    TrainReply,
    Verifier,
)
from peermind.trust import MembershipRules
from test_admission_wire import LISTEN, NEGOTIATE, _exchange, _framed, _refusal, _reply

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
    trio.run(_outsider_on_negotiate_and_fl, a)


async def _outsider_on_negotiate_and_fl(member: NodeProc) -> None:
    """An outsider whose ad has the network's name and proof of work but no membership proof gets
    the typed ``not_member`` on the negotiation and training protocols too (a real libp2p host)."""
    keys = create_new_key_pair()
    signer = Signer.from_libp2p(keys.private_key)
    nonce = MembershipRules.build("club", 8, None).pow.solve(signer.peer_id_b58)  # the default difficulty
    seq = itertools.count(1)

    async def make_ad() -> CapabilityAd:
        return CapabilityAd(network="club", ttl_s=60, seq=next(seq), pow_nonce=nonce)

    async with running_host(keys, LISTEN) as host:
        gossip = AdGossip(host, signer, Verifier(), AdBoard(), "club", make_ad, republish_s=1.0,  # type: ignore[arg-type]
                          on_evidence=lambda *_a: None)
        async with trio.open_nursery() as nursery:
            await nursery.start(gossip.run)  # before dialling: pubsub opens its streams on new connections
            await dial(host, parse_peer_addr(member.addrs[0]))
            deadline = int(time.time() * 1000) + 60_000
            reasons: list[str] = []
            with trio.fail_after(60):
                while "not_member" not in reasons:  # "unadvertised" until the member has judged the ad
                    offer = TaskOffer(task_id=bytes([len(reasons)]) * 16, kind="generate", deadline_ms=deadline)
                    reasons.append(_refusal(await _exchange(host, member, _framed(signer, member, offer), NEGOTIATE)).reason)
            assert set(reasons) <= {"unadvertised", "not_member"}, reasons
            invite = TrainInvite(run_id="r1", round=1, coordinator=signer.peer_id_b58, deadline_ms=deadline)
            reply = _reply(await _exchange(host, member, _framed(signer, member, invite), FL_PROTOCOL_ID))
            assert isinstance(reply, TrainReply) and reply.error.startswith("not_member:"), reply
            nursery.cancel_scope.cancel()
