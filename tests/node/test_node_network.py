"""Three real node daemons on loopback: discovery, ads, remote tasks, OpenAI API, DHT.

One module-scoped network (node b and c bootstrap to a) keeps the suite to one start-up;
every test here only reads or asks, so they do not disturb each other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from nodeproc import NodeCluster, NodeProc, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProc, NodeProc, NodeProc]]:
    cluster = NodeCluster(Path(tmp_path_factory.mktemp("net3")))
    try:
        a = cluster.start("a", extra=["--set", "ads.skills=summarise"])
        b = cluster.spawn("b", bootstrap=a.addrs, extra=["--set", "ads.skills=code,math"])
        c = cluster.spawn("c", bootstrap=a.addrs)
        b.wait_ready()
        c.wait_ready()
        for node in (a, b, c):
            others = {n.peer_id for n in (a, b, c)} - {node.peer_id}
            wait_for(lambda node=node, others=others: others <= node.peers(), timeout_s=30, what=f"{node.name} to hold every ad")
        yield a, b, c
    finally:
        cluster.stop_all()


def test_nodes_discover_each_other_through_one_bootstrap_peer(net: tuple[NodeProc, NodeProc, NodeProc]) -> None:
    a, b, c = net
    # b and c were only given a's address: they found each other through a's gossip.
    assert c.peer_id in b.peers() and b.peer_id in c.peers()
    ad = next(p for p in b.get("/peermind/peers").json()["peers"] if p["peer_id"] == a.peer_id)
    assert ad["models"][0]["name"] == "smollm2"
    assert ad["network"] == a.state["network"]
    assert any(addr.endswith(a.peer_id) for addr in ad["addrs"])
    assert ad["models"][0]["gen_tps"] > 0  # measured, not a constant


def test_ads_received_are_stored_as_known_peers(net: tuple[NodeProc, NodeProc, NodeProc]) -> None:
    a, b, c = net

    def rows() -> dict[str, tuple[object, ...]]:
        return {r[0]: r for r in a.db_rows("SELECT peer_id, last_ad, addrs, last_seen FROM peers")}

    wait_for(lambda: {b.peer_id, c.peer_id} <= set(rows()), timeout_s=10, what="b and c in a's peers table")  # batched writes
    peer, last_ad, addrs, _seen = rows()[b.peer_id]
    assert last_ad and len(last_ad) > 100  # the signed envelope
    assert any(b.peer_id in x for x in json.loads(addrs))


def test_a_peer_answers_a_task_with_the_real_model(net: tuple[NodeProc, NodeProc, NodeProc]) -> None:
    a, b, _c = net
    before = b.metric("peermind_tasks_served_total", outcome="ok")
    r = a.post("/peermind/ask", {"question": "What is the capital of France?", "max_tokens": 24, "peer": b.peer_id})
    assert r.status_code == 200, r.text
    body = r.json()
    prov = body["provenance"]
    assert prov["answered_by"] == b.peer_id and prov["model"] == "smollm2"
    assert body["text"].strip() and prov["completion_tokens"] > 0
    # b records a served task right after its reply is on the wire: an instant later.
    wait_for(lambda: b.metric("peermind_tasks_served_total", outcome="ok") == before + 1, timeout_s=5, what="b's task count")
    served = b.db_rows("SELECT peer, status, completion_tokens, task_id FROM tasks WHERE direction='in' ORDER BY id DESC LIMIT 1")
    assert served and served[0][0] == a.peer_id and served[0][1] == "ok" and served[0][2] > 0
    # b logs the task under the id a's provenance names, so the two logs join (it was NULL)
    assert served[0][3] == prov["contributions"][0]["served_task_id"] and len(served[0][3]) == 32
    asked = a.db_rows("SELECT peer, status FROM tasks WHERE direction='out' ORDER BY id DESC LIMIT 1")
    assert asked == [(b.peer_id, "ok")]


def test_openai_client_lists_models_and_gets_answers(net: tuple[NodeProc, NodeProc, NodeProc]) -> None:
    a, b, c = net
    client = openai.OpenAI(base_url=a.api_url + "/v1", api_key="unused", timeout=120, max_retries=0)
    models = client.models.list().data
    smol = next(m for m in models if m.id == "smollm2")
    assert set(smol.model_extra["peers"]) == {a.peer_id, b.peer_id, c.peer_id}

    reply = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Name a colour."}],
        max_tokens=16,
        extra_body={"peermind": {"peer": c.peer_id}},
    )
    assert reply.choices[0].message.content.strip()
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert reply.model_extra["peermind"]["answered_by"] == c.peer_id

    stream = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Name a fruit."}],
        max_tokens=16,
        stream=True,
        extra_body={"peermind": {"peer": b.peer_id}},
    )
    chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text.strip()
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_dht_finds_providers_of_a_skill_and_a_model(net: tuple[NodeProc, NodeProc, NodeProc]) -> None:
    a, b, c = net

    def providers(node: NodeProc, query: str) -> set[str]:
        r = node.get(f"/peermind/providers?{query}")
        assert r.status_code == 200, r.text
        return {p["peer_id"] for p in r.json()["providers"]}

    # Answered from Kademlia provider records (not from the ads): only b registered "code".
    assert wait_for(lambda: providers(c, "skill=code") == {b.peer_id}, timeout_s=20, what="c to find b as the code provider")
    assert providers(a, "skill=math") == {b.peer_id}
    assert providers(b, "skill=summarise") == {a.peer_id}
    everyone = {a.peer_id, b.peer_id, c.peer_id}
    assert wait_for(lambda: providers(c, "model=smollm2") == everyone, timeout_s=20, what="all smollm2 providers")
    assert providers(a, "skill=juggling") == set()
    assert a.get("/peermind/providers?skill=").status_code == 400
    status = c.get("/status").json()
    assert status["discovery"]["dht"] and status["discovery"]["dht_routing_table"] >= 2


def test_metrics_count_real_activity(net: tuple[NodeProc, NodeProc, NodeProc]) -> None:
    a, _b, _c = net
    a.post("/peermind/ask", {"question": "Say hi.", "max_tokens": 4, "local_only": True})
    assert a.metric("peermind_asks_total", outcome="ok") >= 1
    assert a.metric("peermind_peers_fresh") == 2
