"""The trust package against real libp2p objects: real peer IDs and the gossipsub scorer."""

from __future__ import annotations

from typing import Any

import pytest
from _trustpeers import Clock
from peermind.trust import Evidence, EvidenceRecord, ProofOfWork, ReputationBook, TrustParams

ed25519 = pytest.importorskip("libp2p.crypto.ed25519")
peer_id = pytest.importorskip("libp2p.peer.id")
score = pytest.importorskip("libp2p.pubsub.score")


def _real_id() -> Any:
    return peer_id.ID.from_pubkey(ed25519.create_new_key_pair().public_key)


def test_real_peer_ids_are_accepted_and_work_with_proof_of_work() -> None:
    pid = _real_id()
    text = pid.to_base58()
    ev = EvidenceRecord(text, Evidence.TASK_OK, at=1.0)
    assert ev.peer == text
    pow_ = ProofOfWork("peermind-test", 8)
    assert pow_.verify(text, pow_.solve(text))


def test_gossip_score_plugs_into_the_libp2p_peer_scorer() -> None:
    clock = Clock()
    book = ReputationBook(TrustParams(), now=clock)
    good, bad, newcomer = _real_id(), _real_id(), _real_id()
    for _ in range(30):
        book.record(EvidenceRecord(good.to_base58(), Evidence.ANSWER_RIGHT, at=clock.t))
    for _ in range(3):
        book.record(
            EvidenceRecord(
                bad.to_base58(), Evidence.PROTOCOL_VIOLATION, at=clock.t, detail="bad_signature"
            )
        )
    params = score.ScoreParams(
        app_specific_score_fn=lambda p: book.gossip_score(p.to_base58()),
        p6_appl_slack_weight=1.0,
        gossip_threshold=-5.0,
        graylist_threshold=-50.0,
    )
    scorer = score.PeerScorer(params)
    assert scorer.score(good, []) == pytest.approx(1.0)
    assert scorer.score(newcomer, []) == 0.0
    assert scorer.score(bad, []) == pytest.approx(-100.0)
    assert scorer.score(bad, []) < params.graylist_threshold < params.gossip_threshold
