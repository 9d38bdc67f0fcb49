"""Knowledge peers, pure parts: chunking, the on-disk index, retrieval, the summary, routing's match.

The embedder here is a small deterministic fake (hashed bag of words, unit norm): these
tests are about indexing and ranking logic; the real MiniLM runs in the integration test.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import trio
from peermind.node.collab.candidates import Candidate
from peermind.node.collab.evidence import evidence_of, knowledge_peers, with_evidence
from peermind.node.collab.job import Job
from peermind.node.collab.knowledge_match import MATCH_FLOOR
from peermind.node.collab.utility import estimate
from peermind.node.knowledge import (
    CorpusTooLarge,
    IndexLimits,
    KnowledgeService,
    KnowledgeSettings,
    KnowledgeStore,
    grounded,
    index_path,
    match,
    summarise,
)
from peermind.node.knowledge.chunking import chunk_text
from peermind.protocol import (
    CapabilityAd,
    ChatMessage,
    Citation,
    ContinuationScore,
    KnowledgeSummary,
    TaskRequest,
    TaskResult,
)

DIMS = 384


class FakeEmbedder:
    """Hashed bag of words: texts sharing words are similar. Counts the texts it embedded."""

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def vector(self, text: str) -> np.ndarray:
        v = np.zeros(DIMS, dtype=np.float32)
        for word in re.findall(r"[a-z]+", text.lower()):
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIMS] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    async def embed_many(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return np.stack([self.vector(t) for t in texts])


def write_corpus(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    (root / "biology.md").write_text("Photosynthesis happens in chloroplasts of plant cells.\n\n"
                                     "Mitochondria release energy in cells by respiration.\n")
    (root / "sub" / "physics.txt").write_text("Gravity pulls masses together. Newton described gravity.")
    (root / "blob.txt").write_bytes(b"\x00\x01binary data")
    (root / "latin1.md").write_bytes("caf\xe9".encode("latin-1"))
    (root / "image.png").write_bytes(b"\x89PNG")


def run_index(store: KnowledgeStore, root: Path, embedder: FakeEmbedder, **limits: int) -> object:
    return trio.run(lambda: index_path(store, root, embedder.embed_many, limits=IndexLimits(**limits)))


# ---------------------------------------------------------------- chunking
def test_chunks_pack_paragraphs_and_never_exceed_the_size() -> None:
    text = "First paragraph.\n\nSecond one.\n\n" + "A long sentence goes on. " * 40
    chunks = chunk_text(text, 120)
    assert chunks[0].startswith("First paragraph. Second one. A long")  # paragraphs packed together
    assert all(0 < len(c) <= 120 for c in chunks)
    assert "".join(chunks).count("A long sentence") == 40
    assert chunk_text("  \n\n ", 100) == []


# ---------------------------------------------------------------- indexing
def test_index_skips_non_text_with_a_reason_each_and_cites_by_opaque_ids(tmp_path: Path) -> None:
    write_corpus(tmp_path / "docs")
    store = KnowledgeStore(tmp_path / "data")
    report = run_index(store, tmp_path / "docs", FakeEmbedder())
    assert sorted(Path(p).name for p in report.added) == ["biology.md", "physics.txt"]
    reasons = {Path(p).name: why for p, why in report.skipped}
    assert reasons == {"blob.txt": "binary file (NUL bytes)", "latin1.md": "not UTF-8 text (byte 3)",
                       "image.png": "not a text or Markdown file (.png)"}
    ids = [d.doc_id for d in store.documents()]
    assert all(re.fullmatch(r"d[0-9a-f]{15}", i) for i in ids)  # the name stays home


def test_unreadable_files_are_skipped(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    (docs / "secret.txt").write_text("x")
    (docs / "secret.txt").chmod(0)
    report = run_index(KnowledgeStore(tmp_path / "data"), docs, FakeEmbedder())
    expected = [(str(docs / "dangling.txt"), "No such file or directory")]
    if os.geteuid() != 0:  # root reads files whatever their mode
        expected.append((str(docs / "secret.txt"), "Permission denied"))
    assert report.skipped == expected


def test_index_is_incremental_and_survives_a_restart(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_corpus(docs)
    first = FakeEmbedder()
    run_index(KnowledgeStore(tmp_path / "data"), docs, first)
    assert first.embedded
    # A new process (new store object) over the same data dir: nothing is embedded again.
    again = FakeEmbedder()
    report = run_index(KnowledgeStore(tmp_path / "data"), docs, again)
    assert again.embedded == [] and report.unchanged == 2
    # One file changes, one disappears: only the changed one is embedded, the gone one dropped.
    (docs / "biology.md").write_text("Cells divide by mitosis.")
    (docs / "sub" / "physics.txt").unlink()
    third = FakeEmbedder()
    store = KnowledgeStore(tmp_path / "data")
    report = run_index(store, docs, third)
    assert third.embedded == ["Cells divide by mitosis."]
    assert [Path(p).name for p in report.updated] == ["biology.md"] and len(report.removed) == 1
    assert [d.chunks for d in store.documents()] == [1]


def test_size_limit_stops_with_a_typed_error_and_keeps_what_was_indexed(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(5):
        (docs / f"doc{i}.txt").write_text(f"document number {i} " * 10)
    store = KnowledgeStore(tmp_path / "data")
    with pytest.raises(CorpusTooLarge, match=r"stopped before .*doc2.txt.*knowledge.max_corpus_bytes.*2 added"):
        run_index(store, docs, FakeEmbedder(), max_corpus_bytes=450)
    assert len(store.documents()) == 2
    with pytest.raises(CorpusTooLarge, match="chunks"):
        run_index(KnowledgeStore(tmp_path / "other"), docs, FakeEmbedder(), max_chunks=1)


# ---------------------------------------------------------------- retrieval and grounding
def service(tmp_path: Path, **settings: object) -> KnowledgeService:
    write_corpus(tmp_path / "docs")
    svc = KnowledgeService(tmp_path / "data", FakeEmbedder().embed_many, KnowledgeSettings(**settings))  # type: ignore[arg-type]
    trio.run(svc.index, tmp_path / "docs")
    return svc


def request(**kw: object) -> TaskRequest:
    base: dict[str, object] = {"task_id": b"\x01" * 16, "kind": "score", "prompt": "Question: where does photosynthesis happen in plant cells?\nAnswer:",
                               "continuations": [" chloroplasts", " nucleus"], "deadline_ms": 1}
    return TaskRequest(**{**base, **kw})  # type: ignore[arg-type]


def test_score_task_gets_passages_before_the_question_and_cites_ids_only(tmp_path: Path) -> None:
    svc = service(tmp_path, top_k=1, min_similarity=0.1)
    g = trio.run(svc.ground, request())
    assert g is not None
    assert g.request.prompt.index("chloroplasts") < g.request.prompt.index("Question:")
    result = g.finish(TaskResult(task_id=b"\x01" * 16))
    assert [c.doc for c in result.citations] == [svc.store.documents()[0].doc_id] and result.citations[0].chunk == 0
    assert result.passages == []  # evidence not asked, and sharing is off by default
    shared = KnowledgeService(tmp_path / "data", FakeEmbedder().embed_many,
                              KnowledgeSettings(top_k=1, min_similarity=0.1, share_passages=True, passage_chars=40))
    g2 = trio.run(shared.ground, request(evidence=True))
    assert g2 is not None
    assert g2.finish(TaskResult(task_id=b"\x01" * 16)).passages == ["Photosynthesis happens in chloroplasts o"]
    refused = trio.run(svc.ground, request(evidence=True))  # share_passages = false: answer, no text
    assert refused is not None and refused.finish(TaskResult(task_id=b"\x01" * 16)).passages == []


def test_chat_task_gets_a_leading_system_turn_and_unrelated_questions_none(tmp_path: Path) -> None:
    svc = service(tmp_path, min_similarity=0.3)
    g = trio.run(svc.ground, request(kind="generate", prompt="", continuations=[],
                                     messages=[ChatMessage(role="user", content="Who described gravity?")]))
    assert g is not None and g.request.messages[0].role == "system" and "Newton" in g.request.messages[0].content
    assert trio.run(svc.ground, request(prompt="Question: zebra xylophone quartz?\nAnswer:")) is None
    assert grounded((("user", "q"),), "", []) == ((("user", "q"),), "")


# ---------------------------------------------------------------- summary and matching
def test_summary_carries_centroids_and_counts_never_text(tmp_path: Path) -> None:
    svc = service(tmp_path, summary_centroids=2, topics=("biology",))
    summary = trio.run(svc.summary)
    assert summary is not None and len(summary.centroids) == 2 and summary.chunks == 2
    assert sum(c.count for c in summary.centroids) == 2 and summary.topics == ["biology"]
    wire = CapabilityAd(network="n", ttl_s=5, seq=1, knowledge=summary).to_body()
    blob = repr(wire).lower()
    assert "photosynthesis" not in blob and "gravity" not in blob
    assert CapabilityAd.from_body(wire).knowledge == summary
    embed = FakeEmbedder().vector
    assert match(embed("chloroplasts in plant cells"), summary) > match(embed("zebra xylophone"), summary)
    noised = summarise(np.stack([embed("a b"), embed("c d"), embed("e f")]), centroids=2, noise=0.05)
    assert noised is not None and noised.noised and noised.chunks % 10 == 0


def test_old_ads_and_results_without_the_new_fields_still_parse() -> None:
    ad = CapabilityAd(network="n", ttl_s=5, seq=1).to_body()
    assert "knowledge" not in ad and CapabilityAd.from_body(ad).knowledge is None
    body = TaskResult(task_id=b"\x01" * 16, text="x").to_body()
    body.pop("citations"), body.pop("passages")
    assert TaskResult.from_body(body).citations == []


# ---------------------------------------------------------------- routing and consult
def candidate(peer: str, summary: KnowledgeSummary | None, *, local: bool = False, params_m: float = 135) -> Candidate:
    return Candidate(peer, local, "smollm2", "llama", params_m, 50, 500, 0, 8, 1, 0.1, (), knowledge=summary)


def test_router_prefers_the_peer_whose_corpus_matches_and_explain_shows_it() -> None:
    embed = FakeEmbedder().vector
    bio = summarise(np.stack([embed("photosynthesis chloroplasts plant cells")]), centroids=1)
    phys = summarise(np.stack([embed("gravity newton masses")]), centroids=1)
    q = embed("where does photosynthesis happen in plant cells")
    matched = {"bio": match(q, bio), "phys": match(q, phys)}  # type: ignore[arg-type]
    cands = [candidate("me", None, local=True), candidate("phys", phys, params_m=270), candidate("bio", bio)]
    ranked = estimate(cands, {}, prompt_tokens=50, max_tokens=1, knowledge_match=matched)
    assert ranked[0].candidate.peer_id == "bio"
    explained = {e.candidate.peer_id: e.to_json()["knowledge_match"] for e in ranked}
    assert explained == {"bio": matched["bio"], "phys": matched["phys"], "me": None}
    off = estimate(cands, {}, prompt_tokens=50, max_tokens=1, knowledge_match=matched, knowledge_weight=0.0)
    assert off[0].utility == pytest.approx(off[-1].utility, abs=0.05)  # weight 0: the match adds nothing
    peers = knowledge_peers(ranked)
    assert [e.candidate.peer_id for e in peers][0] == "bio" and all(not e.candidate.is_local for e in peers)
    assert all((e.knowledge_match or 0) > MATCH_FLOOR for e in peers)


def scores(*logprobs: float) -> list[ContinuationScore]:
    return [ContinuationScore(logprob=lp, n_tokens=1) for lp in logprobs]


def test_consult_evidence_uses_shared_passages_or_only_the_peers_answer() -> None:
    from peermind.node.collab.policy import make_reply

    job = Job(kind="score", prompt="Question: q?\nAnswer:", continuations=(" alpha", " beta"))
    def cited(similarity: float) -> list[Citation]:
        return [Citation(doc="d1", chunk=0, similarity=similarity)]

    sharing = make_reply(job, candidate("a", None), TaskResult(task_id=b"\x01" * 16, citations=cited(0.7),
                         passages=["alpha is right"], scores=scores(-1.0, -3.0)), 1.0)
    private = make_reply(job, candidate("b", None), TaskResult(task_id=b"\x02" * 16, citations=cited(0.6),
                         scores=scores(-5.0, -1.0)), 1.0)
    far = make_reply(job, candidate("c", None), TaskResult(task_id=b"\x03" * 16, citations=cited(0.3),
                     passages=["off-topic text"], scores=scores(-5.0, -1.0)), 1.0)
    evidence = evidence_of(job, [far, sharing, private])
    assert evidence.passages == ("alpha is right",)  # the barely related passage is left out
    assert evidence.hints == ("A peer holding documents on this topic chose: beta",)
    grounded_job = with_evidence(job, evidence.pieces)
    assert grounded_job.prompt.startswith("Use these passages") and grounded_job.prompt.endswith(job.prompt)
    assert sharing.contribution().citations == ("d1#0",)


def test_wire_tap_records_are_frames() -> None:
    from peermind.protocol import frame_bytes, split_frames

    blob = frame_bytes(b"first") + frame_bytes(b"") + frame_bytes(b"third")
    assert split_frames(blob) == [b"first", b"", b"third"]
    assert split_frames(blob + frame_bytes(b"cut short")[:-3]) == [b"first", b"", b"third"]


def test_explain_lists_citations_and_knowledge_matches() -> None:
    from peermind.node.collab_cli import explain

    text = explain({"reason": "r", "router": "prior", "contributions": [
        {"role": "answer", "peer_id": "12D3KooWabc", "model": "smollm2", "confidence": 1.0, "cost": 0.0,
         "latency_ms": 1.0, "choice": 0, "citations": ["d1#0", "d2#3"]}],
        "considered": [{"peer_id": "12D3KooWabc", "knowledge_match": 0.61}, {"peer_id": "me", "knowledge_match": None}]})
    assert "cites d1#0, d2#3" in text
    assert text.endswith("knowledge match (question vs each peer's corpus summary): 12D3KooWabc… 0.61")
