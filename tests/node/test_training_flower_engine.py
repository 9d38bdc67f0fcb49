"""Engine flower: the same run through real flower-superlink / flower-supernode processes.

Three SmolLM2 daemons (threads 1) on loopback; node-0 coordinates. Flower's
deployment engine spawns a process per message, so a round takes 10-25 s
here: one run of 2 rounds covers weight change, the wire audit and a node
killed in the middle of the run.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3

import numpy as np
import pytest
from nodeproc import NodeCluster, wait_for
from training_kit import start_seeded, wait_run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRAIN_METRICS = {
    "num-examples", "train-loss", "val-examples", "val-log-loss", "val-accuracy",
    "val-choice-accuracy", "val-choice-queries",
}


def _flower_pids() -> set[int]:
    """PIDs of Flower processes whose command line names this test's data root."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "flower-super" in cmd or "flwr-" in cmd:
                found.add(int(entry))
    return found


def test_flower_engine_trains_survives_a_killed_node_and_cleans_up(cluster: NodeCluster) -> None:
    before = _flower_pids()
    nodes = start_seeded(cluster, 3)
    coordinator, victim = nodes[0], nodes[2]
    started = coordinator.post("/peermind/train/start", {
        "rounds": 2, "min_nodes": 2, "engine": "flower", "round_timeout_s": 25,
    })
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]

    def rounds() -> list[dict]:
        return coordinator.get(f"/peermind/train/status?run_id={run_id}").json()["run"]["rounds"]

    wait_for(lambda: len(rounds()) >= 1, timeout_s=240, interval_s=0.5, what="round 1 through Flower")
    victim.send(signal.SIGKILL)  # its guard takes its SuperNode down with it
    run = wait_run(coordinator, run_id, timeout_s=300, audit=True)
    assert run["state"] == "done", run["error"]
    engine = run["engine"]
    assert engine["name"] == "flower" and engine["supernodes"] == 3 and engine["flwr_run_exit"] == 0
    assert engine["tls"] is False and engine["superlink"].startswith("127.0.0.1:")
    first, second = run["rounds"]
    peers = {n.peer_id for n in nodes}
    assert set(first["participants"]) == peers
    assert set(second["participants"]) == peers - {victim.peer_id}
    assert victim.peer_id in second["failed"]
    assert second["duration_s"] < 2 * 25 + 15  # the dead node cost at most its two phase timeouts

    # Weights changed and the survivors adopted the same router.
    survivors = nodes[:2]
    routers = []
    for node in survivors:
        blob = node.db_rows("SELECT blob FROM router_weights WHERE active = 1")[0][0]
        import io

        with np.load(io.BytesIO(blob)) as data:
            routers.append(np.array(data["weights"]))
    assert np.abs(routers[0]).sum() > 0 and np.allclose(routers[0], routers[1])
    assert {p for p, d in run["adoption"].items() if d.get("adopted")} == {n.peer_id for n in survivors}

    # What the ServerApp's transport received from each ClientApp: weights and metrics only.
    audit = run["wire_audit"]["1"]
    assert set(audit) == peers
    for replies in audit.values():
        train = [r for r in replies if r["message_type"] == "train"]
        assert train and all(r["configs"] == {} for r in replies)
        assert train[0]["arrays"] == {"arrays": {"weights": [2, 384], "bias": [2]}}
        assert set(train[0]["metrics"]["metrics"]) == TRAIN_METRICS

    # Flower's own records know the run (what `flwr ls` reads): our app, our run config.
    run_dir = engine["run_dir"]
    assert engine["flower_run_id"]
    with sqlite3.connect(os.path.join(run_dir, "superlink.db")) as db:
        (fab, config), = db.execute("SELECT fab_id, override_config FROM run").fetchall()
    assert fab == "peermind/peermind-router" and json.loads(config)["peermind-run-id"] == run_id
    for node in survivors:
        assert not list(node.data_dir.glob("training/flower/*/node/rows.npz"))
    wait_for(lambda: not (_flower_pids() - before), timeout_s=30, what="Flower processes to exit")
    history = json.loads(json.dumps(coordinator.get("/peermind/train/history").json()["rounds"]))
    assert {("coordinator", 1), ("coordinator", 2)} <= {(r["role"], r["round"]) for r in history}


def test_flower_engine_with_tls_and_supernode_authentication(cluster: NodeCluster) -> None:
    """The off-loopback set-up, forced on loopback: per-run CA, registered SuperNode keys."""
    nodes = start_seeded(cluster, 3)
    coordinator = nodes[0]
    started = coordinator.post("/peermind/train/start", {
        "rounds": 1, "min_nodes": 3, "engine": "flower", "round_timeout_s": 40, "flower_tls": True,
    })
    run = wait_run(coordinator, started.json()["run_id"], timeout_s=400)
    assert run["state"] == "done", run["error"]
    engine = run["engine"]
    assert engine["tls"] is True and engine["supernode_auth"] is True and engine["dropped"] == {}
    # Flower node IDs came from registering the keys the peers sent in their signed replies.
    with open(os.path.join(engine["run_dir"], "identities.json")) as f:
        identities = json.load(f)
    assert set(identities.values()) == {n.peer_id for n in nodes}
    assert set(engine["flower_peers"]) == {n.peer_id for n in nodes}
    assert set(run["rounds"][0]["participants"]) == {n.peer_id for n in nodes}
    for name in ("ca.pem", "server.pem", "server.key"):
        assert os.path.exists(os.path.join(engine["run_dir"], "tls", name))
