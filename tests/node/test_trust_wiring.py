"""TrustWiring as the daemon holds it: config, real SQLite store, real signatures, real scorer."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from libp2p.peer.id import ID
from libp2p.pubsub.score import PeerScorer
from peermind.node.collab.candidates import Candidate
from peermind.node.config import load_config
from peermind.node.errors import ConfigError
from peermind.node.p2p.evidence import protocol_evidence
from peermind.node.store import Store
from peermind.node.trust_wiring import (
    OpinionGossip,
    PeerNotKnown,
    TrustWiring,
    load_or_solve_pow,
    trust_params,
    trust_topic,
)
from peermind.protocol import (
    BadSignature,
    PeerOpinion,
    Signer,
    TaskRequest,
    TrustOpinion,
    Verifier,
    seal,
)
from peermind.trust import Evidence, EvidenceEvent, EvidenceRecord, ProofOfWork, ViolationSource
from prometheus_client import CollectorRegistry

SELF = Signer.generate()
GOOD, BAD, BOOT = Signer.generate(), Signer.generate(), Signer.generate()
BOOT_ADDR = f"/ip4/127.0.0.1/tcp/4001/p2p/{BOOT.peer_id_b58}"


def _wiring(tmp_path: Path, **overrides: object) -> TrustWiring:
    config = load_config(env={}, overrides={"data_dir": str(tmp_path), "network": "testnet-unit",
                                            "bootstrap": [BOOT_ADDR], **overrides})
    store = Store.open(tmp_path / "node.db")
    return TrustWiring(config, store, CollectorRegistry(), SELF.peer_id_b58, model="smollm2")


def _candidate(peer: str, *, local: bool = False) -> Candidate:
    return Candidate(peer_id=peer, is_local=local, model="m", family="f", params_m=135.0, gen_tps=1.0,
                     prompt_tps=1.0, queue_depth=0, max_queue=8, max_concurrency=1, cost_per_1k=0.1, tags=())


def _spoil(w: TrustWiring, peer: str, n: int = 3) -> None:
    for _ in range(n):
        event = protocol_evidence(peer, BadSignature("forged"), ViolationSource.REQUEST)
        assert event is not None
        w.observe(event)


def test_reputation_exclusion_and_routing_weight(tmp_path: Path) -> None:
    w = _wiring(tmp_path)
    assert w.reputation(SELF.peer_id_b58) == 1.0
    assert w.reputation(GOOD.peer_id_b58) == pytest.approx(0.3)  # newcomer prior
    for _ in range(12):
        w.record(EvidenceRecord(GOOD.peer_id_b58, Evidence.ANSWER_RIGHT))
    _spoil(w, BAD.peer_id_b58, 1)
    assert w.should_ask(GOOD.peer_id_b58) and not w.should_ask(BAD.peer_id_b58)
    assert w.routing_weight(GOOD.peer_id_b58) == 1.0  # trusted
    assert w.routing_weight(BAD.peer_id_b58) == 0.0  # excluded
    # unproven: "answers honestly" with the newcomer weight, no longer crushed to (0.3/0.7)^2
    assert w.routing_weight(BOOT.peer_id_b58) == pytest.approx(0.9)
    annotated = w.annotate([_candidate(SELF.peer_id_b58, local=True), _candidate(BOOT.peer_id_b58)])
    assert [c.trust for c in annotated] == [1.0, pytest.approx(0.9)]


def test_routing_weight_falls_with_negative_evidence_and_follows_the_newcomer_setting(tmp_path: Path) -> None:
    w = _wiring(tmp_path, **{"trust.newcomer_weight": "0.8"})
    peer = GOOD.peer_id_b58
    assert w.routing_weight(peer) == pytest.approx(0.8)
    weights = []
    for _ in range(4):  # canary verdicts of a liar on a 50% model (the sequential test's weights)
        w.record(EvidenceRecord(peer, Evidence.ANSWER_WRONG, llr=-0.56))
        weights.append(w.routing_weight(peer))
    assert weights == sorted(weights, reverse=True) and 0 < weights[0] < 0.8
    for _ in range(3):
        w.record(EvidenceRecord(peer, Evidence.ANSWER_WRONG, llr=-0.56))
    assert not w.should_ask(peer) and w.routing_weight(peer) == 0.0
    assert not w.book.is_banned(peer)  # canary statistics exclude, never ban
    w.record(EvidenceRecord(peer, Evidence.ANSWER_RIGHT, llr=1.39))
    w.record(EvidenceRecord(peer, Evidence.ANSWER_RIGHT, llr=1.39))
    assert w.should_ask(peer)  # an honest weak peer's bad streak is undone by right answers


def test_global_trust_decides_where_local_evidence_is_thin(tmp_path: Path) -> None:
    w = _wiring(tmp_path)
    gossip = w.opinions = _gossip(w, [])  # as run() holds it
    vouched, stranger = GOOD.peer_id_b58, Signer.generate().peer_id_b58
    # the pre-trusted bootstrap peer vouches for GOOD and BAD; nobody vouches for the stranger
    assert gossip.ingest(BOOT.peer_id_b58, _opinion(BOOT, {vouched: 1.0, BAD.peer_id_b58: 1.0}))
    gossip.recompute()
    assert w.decision_score(vouched) > 0.7 and w.routing_weight(vouched) == 1.0
    assert w.decision_score(stranger) == pytest.approx(0.3)  # global 0 is "nobody vouches yet": local only
    # local evidence takes over as it accumulates
    for _ in range(3):
        w.record(EvidenceRecord(vouched, Evidence.ANSWER_WRONG, llr=-1.2))
    blended = w.decision_score(vouched)
    assert w.book.score(vouched) < blended < 0.7 and w.should_ask(vouched)
    for _ in range(7):
        w.record(EvidenceRecord(vouched, Evidence.TIMEOUT))
    assert w.decision_score(vouched) == pytest.approx(w.book.score(vouched))  # past probation: local only
    assert not w.should_ask(vouched)
    # proof against a peer is never outvoted: one forged signature, however vouched for
    assert w.routing_weight(BAD.peer_id_b58) == 1.0
    _spoil(w, BAD.peer_id_b58, 1)
    assert not w.should_ask(BAD.peer_id_b58) and w.routing_weight(BAD.peer_id_b58) == 0.0


def test_trust_disabled_scores_but_never_acts(tmp_path: Path) -> None:
    w = _wiring(tmp_path, **{"trust.enabled": "false"})
    _spoil(w, BAD.peer_id_b58)
    assert w.book.is_banned(BAD.peer_id_b58)  # still scored, for comparison
    assert w.should_ask(BAD.peer_id_b58) and w.routing_weight(BAD.peer_id_b58) == 1.0
    assert w.gate(BAD.peer_id_b58) is None
    assert w.gossip_score_params() is None


def test_evidence_survives_a_restart_through_the_store(tmp_path: Path) -> None:
    w = _wiring(tmp_path)
    _spoil(w, BAD.peer_id_b58)
    w.observe(EvidenceEvent(GOOD.peer_id_b58, Evidence.TASK_OK, "80 ms"))
    again = _wiring(tmp_path)
    assert again.replayed == 4
    assert again.book.is_banned(BAD.peer_id_b58)
    refusal = again.gate(BAD.peer_id_b58)
    assert refusal is not None and refusal.reason == "untrusted"


def test_thresholds_come_from_the_config(tmp_path: Path) -> None:
    config = load_config(env={}, overrides={"trust.ask_threshold": "0.2", "trust.ban_threshold": "0.1",
                                            "trust.canary_wrong_weight": "-3"})
    params = trust_params(config)
    assert (params.ask_threshold, params.ban_threshold) == (0.2, 0.1)
    assert params.weights[Evidence.ANSWER_WRONG] == -3.0
    with pytest.raises(ConfigError, match="trust thresholds"):
        load_config(env={}, overrides={"trust.ban_threshold": "0.2"})


def test_work_allowance_and_conduct_settings_reach_the_trust_parameters() -> None:
    config = load_config(env={}, overrides={"trust.work_rate": "50", "trust.work_burst": "600",
                                            "trust.conduct_tolerance": "2"})
    params = trust_params(config)
    assert (params.work_rate, params.work_burst, params.conduct_tolerance) == (50.0, 600.0, 2.0)
    with pytest.raises(ConfigError, match="work_burst"):
        load_config(env={}, overrides={"trust.work_burst": "0.5"})


def test_gossipsub_app_score_follows_reputation(tmp_path: Path) -> None:
    w = _wiring(tmp_path)
    for _ in range(30):
        w.record(EvidenceRecord(GOOD.peer_id_b58, Evidence.ANSWER_RIGHT))
    _spoil(w, BAD.peer_id_b58)
    params = w.gossip_score_params()
    assert params is not None
    scorer = PeerScorer(params)
    assert scorer.score(ID(GOOD.peer_id), []) == pytest.approx(1.0)
    assert scorer.score(ID(BOOT.peer_id), []) == 0.0
    assert scorer.is_graylisted(ID(BAD.peer_id), ["t"])


def test_snapshot_and_explain_show_evidence_standing_and_exclusion(tmp_path: Path) -> None:
    w = _wiring(tmp_path)
    _spoil(w, BAD.peer_id_b58, 2)
    w.observe(EvidenceEvent(GOOD.peer_id_b58, Evidence.TASK_OK, "ok"))
    snap = w.snapshot()
    rows = {r["peer"]: r for r in snap["peers"]}
    assert rows[BAD.peer_id_b58]["standing"] == "do_not_ask"
    assert rows[BAD.peer_id_b58]["counts"] == {"protocol_violation": 2}
    assert rows[BAD.peer_id_b58]["excluded"]["interactions"] == 1
    assert snap["counters"]["violations"] == {"bad_signature,request": 2.0}
    assert snap["pre_trusted"] == [BOOT.peer_id_b58]
    e = w.explain(BAD.peer_id_b58[:20])  # a unique prefix is enough
    assert e["peer"] == BAD.peer_id_b58 and e["should_ask"] is False
    assert e["kinds"]["protocol_violation"]["negative_mass"] == pytest.approx(16.0)
    assert [r["kind"] for r in e["recent"]] == ["protocol_violation"] * 2
    with pytest.raises(PeerNotKnown):
        w.explain("12D3KooWnobodyatall")


def _gossip(w: TrustWiring, evidence: list[EvidenceEvent]) -> OpinionGossip:
    return OpinionGossip(w.ledger, w.metrics, w.global_trust, network="testnet-unit", signer=SELF,
                         verifier=Verifier(), admit=w.admission.admit_opinion,
                         on_evidence=evidence.append, interval_s=30.0)


def _opinion(signer: Signer, opinions: dict[str, float], epoch: int = 1, topic: str = trust_topic("testnet-unit")) -> bytes:
    body = TrustOpinion(epoch=epoch, opinions=[PeerOpinion(peer=p, trust=t) for p, t in opinions.items()])
    return seal(signer, body, topic)


def test_signed_opinions_feed_global_trust_anchored_on_the_bootstrap_peers(tmp_path: Path) -> None:
    w = _wiring(tmp_path)
    evidence: list[EvidenceEvent] = []
    gossip = _gossip(w, evidence)
    # the pre-trusted bootstrap peer vouches for GOOD; BAD vouches for itself and for BOOT
    assert gossip.ingest(BOOT.peer_id_b58, _opinion(BOOT, {GOOD.peer_id_b58: 1.0}))
    assert gossip.ingest(BAD.peer_id_b58, _opinion(BAD, {BAD.peer_id_b58: 1.0, BOOT.peer_id_b58: 0.5}))
    assert w.global_trust.opinion_of(BAD.peer_id_b58).opinions == {BOOT.peer_id_b58: 1.0}  # self dropped
    values = gossip.recompute()
    assert values[GOOD.peer_id_b58] > 0.4
    assert values.get(BAD.peer_id_b58, 0.0) == 0.0
    assert not gossip.ingest(BOOT.peer_id_b58, _opinion(BOOT, {GOOD.peer_id_b58: 1.0}, epoch=1))  # stale
    assert evidence == []


def test_forged_misaddressed_or_foreign_opinions_are_rejected_with_evidence(tmp_path: Path) -> None:
    w = _wiring(tmp_path)
    evidence: list[EvidenceEvent] = []
    gossip = _gossip(w, evidence)
    good = _opinion(GOOD, {BOOT.peer_id_b58: 1.0})
    assert not gossip.ingest(GOOD.peer_id_b58, good[:-1] + bytes([good[-1] ^ 1]))
    assert not gossip.ingest(BAD.peer_id_b58, good)  # relayed as its own
    third, fourth = Signer.generate(), Signer.generate()  # fresh issuers: each has its own allowance
    assert not gossip.ingest(third.peer_id_b58, _opinion(third, {BOOT.peer_id_b58: 1.0}, topic="elsewhere"))
    task = seal(fourth, TaskRequest(task_id=b"\1" * 16, kind="generate", prompt="hi", deadline_ms=1),
                trust_topic("testnet-unit"))
    assert not gossip.ingest(fourth.peer_id_b58, task)
    kinds = [e.detail.split(":")[0].strip() for e in evidence]
    assert kinds == ["BadSignature", "PeerMismatch", "WrongRecipient", "UnexpectedMessage"]
    assert {e.source for e in evidence} == {ViolationSource.OPINION}
    assert [e.peer for e in evidence] == [GOOD.peer_id_b58, BAD.peer_id_b58, third.peer_id_b58, fourth.peer_id_b58]
    # the forger, now below the ask threshold, has no opinion allowance left: dropped unverified
    assert not gossip.ingest(GOOD.peer_id_b58, _opinion(GOOD, {BOOT.peer_id_b58: 1.0}, epoch=2))
    assert len(evidence) == 4


def test_own_opinion_lists_only_peers_above_the_newcomer_prior(tmp_path: Path) -> None:
    w = _wiring(tmp_path)
    gossip = _gossip(w, [])
    assert gossip.own_opinion(epoch=5) is None
    for _ in range(5):
        w.record(EvidenceRecord(GOOD.peer_id_b58, Evidence.ANSWER_RIGHT))
    _spoil(w, BAD.peer_id_b58, 1)
    opinion = gossip.own_opinion(epoch=5)
    assert opinion is not None and [o.peer for o in opinion.opinions] == [GOOD.peer_id_b58]


async def test_own_proof_of_work_is_solved_once_and_stored(tmp_path: Path) -> None:
    pow_ = ProofOfWork("testnet-unit", 10)
    nonce = await load_or_solve_pow(tmp_path, pow_, SELF.peer_id_b58)
    assert pow_.verify(SELF.peer_id_b58, nonce)
    with trio.fail_after(0.5):
        assert await load_or_solve_pow(tmp_path, pow_, SELF.peer_id_b58) == nonce
    assert await load_or_solve_pow(tmp_path, ProofOfWork("testnet-unit", 0), SELF.peer_id_b58) == 0
