"""A peer on another libp2p stack (js-libp2p 2.10, from npm) against a real peermind node.

``js/peer.mjs`` is written from protocol/SPEC.md alone: it connects over TCP + Noise + yamux,
reads the node's capability ads from gossipsub and checks their envelope signatures, then
asks one question on ``/peermind/task/1.0.0`` with a ``task.request`` it sealed and signed
itself, verifying every streamed chunk and the signed result; a second request with one
signature bit flipped must get no answer. The node's own task log must show the task
served to the js peer's ID, so neither side can pass the test alone.

Skipped (with the reason) only where Node.js >= 20 or npm is missing; ``npm ci`` installs
the pinned dependencies once into a cache directory (see ``js_peer.py``).
"""

from __future__ import annotations

import pytest
from js_peer import JsPeerUnavailable, installed_peer, node_and_npm, run_peer
from nodeproc import NodeCluster

pytestmark = pytest.mark.integration

QUESTION = "What is 2+2? Answer with one number."
MAX_TOKENS = 12
PEER_TIMEOUT_S = 120.0


def test_js_libp2p_peer_reads_ads_and_gets_a_signed_task_answered(cluster: NodeCluster) -> None:
    try:
        node_bin, npm = node_and_npm()
    except JsPeerUnavailable as exc:
        pytest.skip(str(exc))
    peer_dir = installed_peer(npm)
    worker = cluster.start("worker")

    rc, report, stderr = run_peer(
        node_bin, peer_dir, "--addr", worker.addrs[0], "--network", cluster.network, "--prompt", QUESTION,
        "--max-tokens", str(MAX_TOKENS), timeout_s=PEER_TIMEOUT_S)

    assert rc == 0 and report["error"] is None, f"js peer failed: {report}\n{stderr[-2000:]}"
    # Gossipsub across implementations: the node's signed ad reached the js peer intact.
    assert report["ad_errors"] == []
    ad = report["newest_ad"]
    assert ad["signer"] == worker.peer_id
    assert ad["recipient"] == f"peermind/{cluster.network}/ads/1"
    assert ad["network"] == cluster.network and ad["models"] == ["smollm2"]
    assert set(worker.addrs) <= set(ad["addrs"])
    # The task: streamed chunks that add up to the signed result, within max_tokens.
    task = report["task"]
    assert task["status"] == "task.result" and task["signed_by"] == worker.peer_id
    assert task["text"].strip() and task["chunks"] and task["chunk_seq_ok"] and task["chunk_text_matches"]
    assert 1 <= task["completion_tokens"] <= MAX_TOKENS
    assert task["finish_reason"] == ("length" if task["completion_tokens"] == MAX_TOKENS else "stop")
    # A forged signature gets no answer.
    assert report["forged"]["status"] == "no reply"
    # The node's side: it served exactly the js peer's task, and not the forged one.
    served = worker.db_rows("SELECT status, model, completion_tokens FROM tasks WHERE direction = 'in' AND peer = ?",
                            (report["peer_id"],))
    assert served == [("ok", "smollm2", task["completion_tokens"])]
