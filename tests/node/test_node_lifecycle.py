"""Real daemons killed, stopped and restarted: what users see when a peer dies or a node restarts."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import httpx
import pytest
from nodeproc import NodeCluster, NodeProc, wait_for

pytestmark = pytest.mark.integration

LONG_QUESTION = "Write a long story about a dragon who learns to bake bread."


def _ask_in_background(node: NodeProc, body: dict[str, Any], timeout_s: float) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        started = time.monotonic()
        try:
            out["response"] = node.post("/peermind/ask", body, timeout=timeout_s)
        except httpx.HTTPError as exc:
            out["error"] = exc
        out["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def _wait_busy(node: NodeProc, out: dict[str, Any]) -> None:
    """Wait until ``node`` is generating, failing at once if the call already ended."""

    def busy() -> bool:
        if "seconds" in out:
            got = out.get("response")
            raise AssertionError(f"the call ended before {node.name} got busy: {got.text if got is not None else out}")
        return bool(node.get("/status").json()["queue"]["depth"] >= 1)

    wait_for(busy, timeout_s=20, interval_s=0.02, what=f"{node.name} to start generating")


def _pair(cluster: NodeCluster, extra: tuple[str, ...] = ()) -> tuple[NodeProc, NodeProc]:
    a = cluster.start("a", extra=extra)
    b = cluster.start("b", bootstrap=a.addrs, extra=extra)
    wait_for(lambda: b.peer_id in a.peers() and a.peer_id in b.peers(), timeout_s=30, what="a and b to exchange ads")
    return a, b


def test_peer_killed_mid_task_fails_fast_then_the_next_question_falls_over(cluster: NodeCluster) -> None:
    a, b = _pair(cluster)
    # The task may take up to 120 s; the HTTP call must still end within 30 s of the kill.
    thread, out = _ask_in_background(
        a, {"question": LONG_QUESTION, "max_tokens": 500, "peer": b.peer_id, "timeout_s": 120}, timeout_s=30
    )
    _wait_busy(b, out)
    b.send(signal.SIGKILL)
    thread.join(timeout=40)
    assert "error" not in out, f"the call hung or broke instead of failing typed: {out.get('error')!r}"
    r = out["response"]
    assert r.status_code == 503, r.text
    err = r.json()["error"]
    assert err["type"] == "all_candidates_failed" and b.peer_id[:12] in err["message"]

    # a forgets b's ad when the connection drops, so an ordinary question is not sent to a dead peer.
    wait_for(lambda: b.peer_id not in a.peers(), timeout_s=5, what="a to drop the dead peer's ad")
    r = a.post("/peermind/ask", {"question": "Say hello.", "max_tokens": 8})
    assert r.status_code == 200, r.text
    assert r.json()["provenance"]["answered_by"] == a.peer_id
    assert a.metric("peermind_trust_evidence_total") >= 1  # the failed attempt became evidence


def test_restart_after_kill_9_keeps_identity_history_and_rejoins(cluster: NodeCluster) -> None:
    a, b = _pair(cluster)
    r = a.post("/peermind/ask", {"question": "What is two plus two?", "max_tokens": 8, "peer": b.peer_id})
    assert r.status_code == 200, r.text
    tasks_before = a.db_rows("SELECT id, direction, peer, status, created_at FROM tasks")
    wait_for(lambda: bool(a.db_rows("SELECT 1 FROM peers WHERE peer_id = ?", (b.peer_id,))), timeout_s=10,
             what="b in a's peers table")  # sightings are written in batches (node/known_peers.py)
    peers_before = a.db_rows("SELECT peer_id, first_seen FROM peers")
    assert tasks_before and (b.peer_id,) in [(p,) for p, _ in peers_before]
    old_peer_id = a.peer_id

    a.send(signal.SIGKILL)
    assert a.wait_exit() == -signal.SIGKILL
    a2 = cluster.start("a")  # same data dir

    assert a2.peer_id == old_peer_id
    tasks_after = a2.db_rows("SELECT id, direction, peer, status, created_at FROM tasks")
    assert set(tasks_before) <= set(tasks_after)
    assert set(peers_before) <= set(a2.db_rows("SELECT peer_id, first_seen FROM peers"))
    # a2 listens on a new port (port 0), so b cannot find it; a2 re-dials the peers it stored.
    wait_for(lambda: b.peer_id in a2.peers() and a2.peer_id in b.peers(), timeout_s=30, what="a2 to rejoin b")
    r = a2.post("/peermind/ask", {"question": "Say hi.", "max_tokens": 4, "peer": b.peer_id})
    assert r.status_code == 200, r.text


def test_sigterm_lets_the_in_flight_task_finish_and_exits_zero(cluster: NodeCluster) -> None:
    # The default 10 s grace covers a 96-token answer on an idle machine; the test machine is shared.
    a, b = _pair(cluster, extra=("--set", "limits.shutdown_grace_s=90"))
    thread, out = _ask_in_background(
        a, {"question": LONG_QUESTION, "max_tokens": 96, "peer": b.peer_id, "timeout_s": 90}, timeout_s=95
    )
    _wait_busy(b, out)
    b.send(signal.SIGTERM)  # the peer serving the task ...
    a.send(signal.SIGTERM)  # ... and the node whose API call waits for it
    thread.join(timeout=100)
    assert "error" not in out, f"the in-flight call broke: {out.get('error')!r}"
    r = out["response"]
    assert r.status_code == 200, r.text
    prov = r.json()["provenance"]
    assert prov["answered_by"] == b.peer_id and prov["completion_tokens"] > 0
    for node in (a, b):
        assert node.wait_exit(timeout_s=60) == 0, node.log_tail()
        assert not (node.data_dir / "node.json").exists()
        assert "Traceback" not in node.log_text()
