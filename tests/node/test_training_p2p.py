"""Federated training across real node processes on loopback, engine p2p (Flower over libp2p).

Three SmolLM2 daemons (threads 1) with seeded feedback in their SQLite stores;
node-0 coordinates through the CLI / HTTP API like a user would.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time

import numpy as np
import pytest
from nodeproc import NodeCluster, peermind, wait_for
from training_kit import start_seeded, wait_run

pytestmark = pytest.mark.integration

TRAIN_METRICS = {
    "num-examples", "train-loss", "val-examples", "val-log-loss", "val-accuracy",
    "val-choice-accuracy", "val-choice-queries",
}
EVAL_METRICS = {"num-examples", "log-loss", "accuracy", "choice-accuracy", "choice-queries"}


def _active_router(node) -> tuple[np.ndarray, dict]:  # type: ignore[no-untyped-def]
    rows = node.db_rows("SELECT blob, schema FROM router_weights WHERE active = 1")
    assert rows, f"{node.name} has no active router"
    blob, schema = rows[0]
    import io

    with np.load(io.BytesIO(blob)) as data:
        return np.array(data["weights"]), json.loads(schema)


def _maps_flower(node) -> bool:  # type: ignore[no-untyped-def]
    """Whether the daemon process has Flower's gRPC extension mapped (Flower imported)."""
    with open(f"/proc/{node.pid}/maps") as maps:
        return "cygrpc" in maps.read()


def test_three_nodes_two_rounds_change_weights_and_send_only_weights_and_metrics(cluster: NodeCluster) -> None:
    nodes = start_seeded(cluster, 3)
    coordinator = nodes[0]
    # Flower loads with the first run, not at start-up (~40 MB of every idle node's RSS)
    assert not any(_maps_flower(n) for n in nodes)
    done = peermind("train", "start", "--api", coordinator.api_url, "--rounds", "2",
                    "--min-nodes", "3", "--round-timeout", "20", "--json", timeout_s=120)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "round 1/2" in done.stderr and "round 2/2" in done.stderr  # live progress
    run = json.loads(done.stdout)
    assert run["state"] == "done", run["error"]
    peers = {n.peer_id for n in nodes}
    assert set(run["accepted"]) == peers
    assert [r["round"] for r in run["rounds"]] == [1, 2]
    for rd in run["rounds"]:
        assert set(rd["participants"]) == peers and not rd["failed"]

    # The weights changed: every node validated and adopted the same, non-zero router.
    routers = [_active_router(n) for n in nodes]
    for weights, schema in routers:
        assert np.abs(weights).sum() > 0
        assert np.allclose(weights, routers[0][0])
        assert schema["source"] == f"federated:{run['run_id']}"
    assert all(d["adopted"] for d in run["adoption"].values()) and set(run["adoption"]) == peers
    assert all(_maps_flower(n) for n in nodes)

    # What crossed the wire (decoded by the coordinator from the received bytes):
    # train replies carry only the router's two arrays and aggregate metrics.
    audit = coordinator.get(f"/peermind/train/status?run_id={run['run_id']}&audit=1").json()["run"]["wire_audit"]
    assert set(audit) == {"1", "2"}
    for by_peer in audit.values():
        assert set(by_peer) == peers
        for replies in by_peer.values():
            kinds = sorted(r["message_type"] for r in replies)
            assert kinds == ["evaluate", "train"]
            for reply in replies:
                assert reply["configs"] == {} and "error" not in reply
                if reply["message_type"] == "train":
                    assert reply["arrays"] == {"arrays": {"weights": [2, 384], "bias": [2]}}
                    assert set(reply["metrics"]["metrics"]) == TRAIN_METRICS
                    assert reply["bytes"] < 8000  # 2 x 384 float32 + metrics, no rows
                else:
                    assert reply["arrays"] == {}
                    assert set(reply["metrics"]["metrics"]) == EVAL_METRICS

    # Each node recorded its view: coordinator rounds, participant rounds, its adoption.
    roles = coordinator.db_rows("SELECT role, round FROM training_rounds WHERE run_id = ?", (run["run_id"],))
    assert {("coordinator", 1), ("coordinator", 2), ("participant", 1), ("participant", 2), ("adoption", 2)} <= set(roles)
    for node in nodes[1:]:
        got = node.db_rows("SELECT role, adopted FROM training_rounds WHERE run_id = ? ORDER BY round", (run["run_id"],))
        assert ("adoption", 1) in got and got.count(("participant", 0)) == 2
    history = peermind("train", "history", "--api", nodes[1].api_url, "--json")
    assert history.returncode == 0 and {r["role"] for r in json.loads(history.stdout)} == {"participant", "adoption"}


def test_killed_node_does_not_stall_the_round_and_too_few_nodes_fail_cleanly(cluster: NodeCluster) -> None:
    # Enough rows and local epochs that a round takes a noticeable time, so the node can be
    # stopped while rounds remain, on a fast machine as on a loaded one.
    nodes = start_seeded(cluster, 3, queries_per_node=300)
    coordinator, victim = nodes[0], nodes[2]
    timeout_s = 3.0
    started = coordinator.post("/peermind/train/start", {
        "rounds": 80, "min_nodes": 2, "round_timeout_s": timeout_s, "local_epochs": 200, "adopt": False,
    })
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]

    def rounds() -> list[dict]:
        return coordinator.get(f"/peermind/train/status?run_id={run_id}").json()["run"]["rounds"]

    wait_for(lambda: len(rounds()) >= 2, timeout_s=60, interval_s=0.02, what="two rounds")
    victim.send(signal.SIGSTOP)  # hung: no reset, only the round timeout can help
    try:
        wait_for(lambda: any(victim.peer_id in r["failed"] for r in rounds()),
                 timeout_s=4 * timeout_s + 20, interval_s=0.1, what="a round without the hung node")
    finally:
        victim.send(signal.SIGKILL)
    run = wait_run(coordinator, run_id, timeout_s=300)
    assert run["state"] == "done", run["error"]
    assert len(run["rounds"]) == 80
    hung = [r for r in run["rounds"] if victim.peer_id in r["failed"]]
    assert hung, "the victim never missed a round"
    # It may have answered a round's train phase and hung in its evaluate phase; either
    # way the round ends within its two phase timeouts, and some round trains without it.
    assert any(len(rd["participants"]) == 2 for rd in hung)
    for rd in hung:
        assert rd["duration_s"] < 2 * timeout_s + 5
    assert "within" in next(iter(hung[0]["failed"].values()))  # the timeout is the reason
    later = run["rounds"][-1]
    assert victim.peer_id not in later["asked"]  # dead peers are dropped from later rounds

    # Three nodes required, two alive: the run fails before training and says why.
    t0 = time.monotonic()
    again = peermind("train", "start", "--api", coordinator.api_url, "--rounds", "1",
                     "--min-nodes", "3", "--round-timeout", "5", "--json", timeout_s=120)
    assert again.returncode == 1
    failed = json.loads(again.stdout)
    assert failed["state"] == "failed" and "TooFewParticipants" in failed["error"]
    assert "min_nodes is 3" in failed["error"] and failed["rounds"] == []
    assert time.monotonic() - t0 < 60


def test_no_join_training_node_refuses_with_a_typed_refusal(cluster: NodeCluster) -> None:
    nodes = start_seeded(cluster, 3, extra={2: ["--no-join-training"]})
    coordinator, refuser = nodes[0], nodes[2]
    wait_for(lambda: refuser.get("/peermind/train/status").json()["available"] is False, what="status")
    started = coordinator.post("/peermind/train/start", {"rounds": 1, "min_nodes": 2})
    run = wait_run(coordinator, started.json()["run_id"])
    assert run["state"] == "done", run["error"]
    # Its ad says training=false, so it is not even invited; invite it by hand to see the refusal.
    assert refuser.peer_id not in run["invited"] and refuser.peer_id not in run["accepted"]
    joined = peermind("train", "join", "--api", refuser.api_url, coordinator.addrs[0], "--json")
    assert joined.returncode == 0, joined.stderr
    assert json.loads(joined.stdout)["coordinator"] == coordinator.peer_id
    wait_for(lambda: refuser.peer_id in {p["peer_id"] for p in coordinator.get("/peermind/peers").json()["peers"]
                                         if p.get("training")}, timeout_s=30, what="ad with training=true")
    run = wait_run(coordinator, coordinator.post("/peermind/train/start", {"rounds": 1, "min_nodes": 3}).json()["run_id"])
    assert run["state"] == "done" and refuser.peer_id in run["accepted"]
    left = peermind("train", "leave", "--api", refuser.api_url)
    assert left.returncode == 0
    wait_for(lambda: not any(p.get("training") for p in coordinator.get("/peermind/peers").json()["peers"]
                             if p["peer_id"] == refuser.peer_id), timeout_s=30, what="ad with training=false")
    run = wait_run(coordinator, coordinator.post("/peermind/train/start", {"rounds": 1, "min_nodes": 3}).json()["run_id"])
    assert run["state"] == "failed" and "TooFewParticipants" in run["error"]
    with sqlite3.connect(refuser.data_dir / "node.db") as db:
        assert db.execute("SELECT COUNT(*) FROM training_rounds WHERE role='participant'").fetchone()[0] == 1
