"""Collaboration on real processes: 3 nodes (SmolLM2, Gemma-3, SmolLM2) on loopback.

Every mode answers a real multiple-choice or open question through real sockets and
real models; negotiation survives a winner killed mid-task; infeasible constraints come
back as 422 naming the constraint; feedback and seeding go through the HTTP API and CLI.
Trust is off here (its newcomer weights would keep work local in a 30-second-old
network, which trust's own tests cover); everything else is the shipped configuration.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from nodeproc import NodeCluster, NodeProc, peermind, wait_for

pytestmark = pytest.mark.integration

MC = {"context": "Question: Which gas do plants take in from the air to make food?\nAnswer:",
      "continuations": [" oxygen", " carbon dioxide", " helium", " neon"]}
NO_TRUST = ("--set", "trust.enabled=false")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    cluster = NodeCluster(tmp_path_factory.mktemp("collab"))
    try:
        n0 = cluster.start("node-0", model="smollm2", extra=NO_TRUST)
        n1 = cluster.spawn("node-1", model="gemma3-270m", bootstrap=n0.addrs, extra=NO_TRUST)
        n2 = cluster.spawn("node-2", model="smollm2", bootstrap=n0.addrs, extra=NO_TRUST)
        n1.wait_ready()
        n2.wait_ready()
        wait_for(lambda: len(n0.peers()) == 2 and len(n1.peers()) == 2, timeout_s=60, what="ads of all peers")
        yield {"s": n0, "g": n1, "s2": n2}
    finally:
        cluster.stop_all()


def score(node: NodeProc, **options: Any) -> dict[str, Any]:
    r = node.post("/peermind/score", {**MC, **options})
    assert r.status_code == 200, r.text
    return r.json()


def test_every_mode_answers_with_provenance(net: dict[str, NodeProc]) -> None:
    s, g = net["s"], net["g"]
    for mode in ("route", "cascade", "vote", "moa", "auction", "auto"):
        data = score(s, mode=mode)
        p = data["provenance"]
        assert p["mode"] == mode and len(data["scores"]) == 4
        for key in ("answered_by", "cost", "latency_ms", "escalated", "task_id", "confidence", "contributions"):
            assert key in p, (mode, key)
        assert p["choice"] in range(4)
    assert score(s, mode="route")["provenance"]["answered_by"] == g.peer_id  # cold start: the strongest model
    voted = score(s, mode="vote")["provenance"]
    assert {c["model"] for c in voted["contributions"]} == {"smollm2", "gemma3-270m"}
    auction = score(s, mode="auction")["provenance"]
    assert auction["negotiation_ms"] is not None and "3 bids" in auction["reason"]


def test_cascade_escalates_only_below_the_threshold(net: dict[str, NodeProc]) -> None:
    s, g = net["s"], net["g"]
    kept = score(s, mode="cascade", threshold=0.0)["provenance"]
    assert not kept["escalated"] and kept["model"] == "smollm2"
    escalated = score(s, mode="cascade", threshold=1.0)["provenance"]
    assert escalated["escalated"] and escalated["answered_by"] == g.peer_id
    assert len(escalated["contributions"]) == 2


def test_generation_modes_over_real_models(net: dict[str, NodeProc]) -> None:
    s, g = net["s"], net["g"]
    q = {"question": "What is the capital of France?", "max_tokens": 12}
    moa = s.post("/peermind/ask", {**q, "mode": "moa", "aggregator": g.peer_id}).json()
    assert moa["provenance"]["answered_by"] == g.peer_id and len(moa["provenance"]["contributions"]) >= 3
    vote = s.post("/peermind/ask", {**q, "mode": "vote", "k": 3}).json()
    assert len(vote["provenance"]["contributions"]) == 3 and 0 < vote["provenance"]["confidence"] <= 1
    chat = httpx.post(s.api_url + "/v1/chat/completions", timeout=120, json={
        "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 8,
        "peermind": {"mode": "cascade", "threshold": -100.0}}).json()
    assert chat["peermind"]["mode"] == "cascade" and not chat["peermind"]["escalated"]


@pytest.mark.parametrize(("options", "constraint"), [
    ({"require_tags": ["region:nowhere"]}, "require_tags"),
    ({"min_quality": 0.99}, "min_quality"),
    ({"budget_ms": 1}, "budget_ms"),
    ({"max_cost": 0.0}, "max_cost"),
])
def test_infeasible_constraints_are_422_naming_the_constraint(net: dict[str, NodeProc], options: dict[str, Any],
                                                               constraint: str) -> None:
    r = net["s"].post("/peermind/ask", {"question": "Hi?", "mode": "route", **options})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["constraint"] == constraint


def test_feedback_labels_the_rows_of_an_answer(net: dict[str, NodeProc]) -> None:
    s = net["s"]
    p = score(s, mode="vote")["provenance"]
    wait_for(lambda: s.db_rows("SELECT COUNT(*) FROM feedback WHERE task_id = ?", (p["task_id"],))[0][0] == 2,
             timeout_s=60, what="feedback rows (the embedder loads on first use)")
    done = peermind("feedback", p["task_id"], "--correct", "--api", s.api_url)
    assert done.returncode == 0, done.stderr
    labels = dict(s.db_rows("SELECT mode, correct FROM feedback WHERE task_id = ?", (p["task_id"],)))
    assert labels.get("vote") == 1
    assert s.post("/peermind/feedback", {"task_id": "ab" * 16, "correct": True}).status_code == 404


def test_a_dead_auction_winner_is_replaced_by_the_next_bid(net: dict[str, NodeProc]) -> None:
    """Kill the winner while it computes: the asker awards the next bid, the user gets an answer."""
    s, g = net["s"], net["g"]
    long_choices = [" " + " ".join(f"{w}{i}" for i in range(60)) for w in ("alpha", "beta", "gamma", "delta", "omega", "sigma")]
    body = {"context": "Question: Which list is the longest?\nAnswer:", "continuations": long_choices,
            "mode": "auction", "cost_weight": 0.0, "timeout_s": 120}
    result: dict[str, Any] = {}

    def ask() -> None:
        result["response"] = s.post("/peermind/score", body, timeout=180)

    thread = threading.Thread(target=ask)
    thread.start()
    try:
        wait_for(lambda: g.get("/status").json()["queue"]["depth"] >= 1, timeout_s=30, interval_s=0.02,
                 what="the winner (gemma) to start the task")
        g.send(signal.SIGKILL)
    finally:
        thread.join(timeout=180)
    r = result["response"]
    assert r.status_code == 200, r.text
    p = r.json()["provenance"]
    assert p["answered_by"] != g.peer_id
    outcomes = {a["peer_id"]: a["outcome"] for a in p["attempts"]}
    assert outcomes[g.peer_id] in ("failed", "timeout", "unreachable")
    assert p["negotiation_ms"] is not None


def test_seed_fits_the_router_and_status_reports_it(net: dict[str, NodeProc]) -> None:
    """Runs after the auction test killed the Gemma node: the SmolLM2 peers seed their head."""
    s = net["s"]
    r = s.post("/peermind/router/seed", {"datasets": ["arc_easy"], "limit": 4, "validation_limit": 3,
                                         "generation_items": 1, "wait": True}, timeout=600)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "done" and r.json()["per_model"]["smollm2"]["done"] == 4 + 3 + 1
    status = peermind("router", "status", "--api", s.api_url)
    assert status.returncode == 0, status.stderr
    assert "trained heads:" in status.stdout and "smollm2" in status.stdout.split("trained heads:")[1].split("\n")[0]
    learned = score(s, mode="route")["provenance"]
    assert learned["router"] == "learned" and learned["decision_ms"] < 2000
