"""Knowledge peers on real processes: 3 SmolLM2 nodes on loopback, real MiniLM, real SQLite.

Node "private" holds documents it never shares (``share_passages = false``), node
"open" holds documents it may share, node "asker" holds none. A question about the
private corpus, asked through the asker, is routed to the private node by the match
with its advertised summary and answered from its documents, citing them by id;
``consult`` and ``moa`` gather evidence from both. Every frame each node sends is recorded at
the framing layer (``PEERMIND_WIRE_TAP``) and searched for corpus text: none of the
private node's passages ever leaves it, while the open node's do (the audit can fail).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nodeproc import NodeCluster, NodeProc, wait_for
from peermind.node.wire_tap import read_tap

pytestmark = pytest.mark.integration

PRIVATE_DOCS = {
    "zorblax.md": "The capital city of the planet Zorblax is Quenvar. Quenvar sits on a purple glacier.\n\n"
                  "Zorblax has three moons named Ilo, Vesh and Pardune.",
    "zorblax-food.txt": "People on Zorblax eat glowing kelp called brimmel every morning.",
}
OPEN_DOCS = {
    "tesmir.md": "The oceans of the planet Tesmir are made of liquid copper. Tesmir orbits a blue dwarf star.",
}
NO_TRUST = ("--set", "trust.enabled=false")
ZORBLAX_Q = {"context": "Question: What is the capital city of the planet Zorblax?\nAnswer:",
             "continuations": [" Quenvar", " Paris", " Lintor", " Berlin"]}
TESMIR_Q = {"context": "Question: What are the oceans of the planet Tesmir made of?\nAnswer:",
            "continuations": [" liquid copper", " salt water", " methane", " sand"]}


def write_docs(folder: Path, docs: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    for name, text in docs.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProc]]:
    root = tmp_path_factory.mktemp("knowledge")
    cluster = NodeCluster(root)
    taps = {name: root / f"{name}.tap" for name in ("asker", "private", "open")}
    try:
        asker = cluster.start("asker", extra=NO_TRUST, env={"PEERMIND_WIRE_TAP": str(taps["asker"])})
        private = cluster.spawn("private", bootstrap=asker.addrs, env={"PEERMIND_WIRE_TAP": str(taps["private"])},
                                extra=(*NO_TRUST, "--docs", str(write_docs(root / "private-docs", PRIVATE_DOCS)),
                                       "--set", "knowledge.topics=astronomy"))
        open_ = cluster.spawn("open", bootstrap=asker.addrs, env={"PEERMIND_WIRE_TAP": str(taps["open"])},
                              extra=(*NO_TRUST, "--docs", str(write_docs(root / "open-docs", OPEN_DOCS)),
                                     "--set", "knowledge.share_passages=true"))
        private.wait_ready()
        open_.wait_ready()

        def summaries() -> bool:
            ads = asker.get("/peermind/peers").json()["peers"]
            return len([a for a in ads if a.get("knowledge")]) == 2

        wait_for(summaries, timeout_s=180, interval_s=1.0, what="both knowledge summaries in the asker's ads")
        wait_for(lambda: asker.post("/v1/embeddings", {"input": "warm up"}).status_code == 200,
                 timeout_s=120, interval_s=2.0, what="the asker's embedder")
        yield {"asker": asker, "private": private, "open": open_, "root": root}  # type: ignore[dict-item]
    finally:
        cluster.stop_all()


def score(node: NodeProc, question: dict[str, Any], **options: Any) -> dict[str, Any]:
    r = node.post("/peermind/score", {**question, **options}, timeout=180)
    assert r.status_code == 200, r.text
    return r.json()["provenance"]


def test_ads_carry_a_summary_without_text(net: dict[str, NodeProc]) -> None:
    ads = {a["peer_id"]: a for a in net["asker"].get("/peermind/peers").json()["peers"]}
    summary = ads[net["private"].peer_id]["knowledge"]
    assert summary["topics"] == ["astronomy"] and summary["chunks"] == 2 and sum(summary["counts"]) == 2
    assert "Quenvar" not in str(ads)


def test_route_sends_the_question_to_the_documents_and_cites_them_by_id(net: dict[str, NodeProc]) -> None:
    p = score(net["asker"], ZORBLAX_Q, mode="route")
    assert p["answered_by"] == net["private"].peer_id, p["considered"]
    assert "its documents match the question" in p["reason"]
    matches = {c["peer_id"]: c["knowledge_match"] for c in p["considered"]}
    assert matches[net["private"].peer_id] > matches[net["open"].peer_id] and matches[net["asker"].peer_id] is None
    cited = p["contributions"][0]["citations"]
    assert cited and all(re.fullmatch(r"d[0-9a-f]{15}#\d+", c) for c in cited)
    assert p["choice"] == 0  # Quenvar: only the documents know it
    other = score(net["asker"], TESMIR_Q, mode="route")
    assert other["answered_by"] == net["open"].peer_id and other["choice"] == 0


def test_consult_gathers_passages_only_where_the_policy_allows(net: dict[str, NodeProc]) -> None:
    p = score(net["asker"], TESMIR_Q, mode="consult")
    assert p["mode"] == "consult" and p["answered_by"] == net["asker"].peer_id
    by_peer = {c["peer_id"]: c for c in p["contributions"]}
    assert by_peer[net["open"].peer_id]["citations"]
    assert re.search(r"[1-9]\d* passages", p["reason"]), p["reason"]
    assert p["choice"] == 0, p
    private = score(net["asker"], ZORBLAX_Q, mode="consult")
    assert "0 passages, 1 answers without text" in private["reason"], private["reason"]


def test_moa_answers_on_the_asker_with_evidence_from_the_knowledge_peers(net: dict[str, NodeProc]) -> None:
    p = score(net["asker"], TESMIR_Q, mode="moa")
    assert p["mode"] == "moa" and "evidence from" in p["reason"], p["reason"]
    by_peer = {c["peer_id"]: c for c in p["contributions"]}
    assert by_peer[net["open"].peer_id]["citations"] and net["asker"].peer_id in by_peer
    assert re.search(r"[1-9]\d* passages", p["reason"]) and "answered on this node" in p["reason"], p["reason"]
    assert p["choice"] == 0, p
    private = score(net["asker"], ZORBLAX_Q, mode="moa")  # shares no text, still answers
    assert re.search(r"0 passages, [1-9] answers without text", private["reason"]), private["reason"]
    assert private["choice"] == 0, private


def test_wire_audit_no_private_passage_leaves_its_node(net: dict[str, NodeProc]) -> None:
    root: Path = net["root"]  # type: ignore[assignment]
    frames = {name: list(read_tap(root / f"{name}.tap")) for name in ("asker", "private", "open")}
    assert all(frames.values()), {k: len(v) for k, v in frames.items()}
    private_texts = [s.strip().encode() for doc in PRIVATE_DOCS.values() for s in re.split(r"(?<=\.)\s", doc) if s.strip()]
    leaks = [(name, t) for name, fs in frames.items() for f in fs for t in private_texts if t in f]
    assert leaks == [], leaks
    shared = OPEN_DOCS["tesmir.md"].split(". ")[0].encode()
    assert any(shared in f for f in frames["open"])  # the open node's policy let it share: the audit sees it
    assert not any(shared in f for f in frames["asker"])  # and the asker never forwards it


def test_ask_explain_shows_the_match_and_the_cited_ids(net: dict[str, NodeProc]) -> None:
    from nodeproc import peermind

    done = peermind("ask", "What is the capital city of the planet Zorblax?", "--api", net["asker"].api_url,
                    "--mode", "route", "--max-tokens", "16", "--explain", timeout_s=300)
    assert done.returncode == 0, done.stderr
    assert "its documents match the question" in done.stderr
    assert "knowledge match (question vs each peer's corpus summary)" in done.stderr
    assert re.search(r"cites d[0-9a-f]{15}#\d+", done.stderr), done.stderr


def test_labelled_answers_of_the_matching_peer_teach_the_match_weight(net: dict[str, NodeProc]) -> None:
    asker = net["asker"]
    first = score(asker, ZORBLAX_Q, mode="route")
    assert first["answered_by"] == net["private"].peer_id
    marked = lambda: asker.post("/peermind/feedback", {"task_id": first["task_id"], "correct": True}).status_code == 200  # noqa: E731
    wait_for(marked, timeout_s=60, interval_s=0.5, what="the answer's feedback row")
    again: dict[str, Any] = {}

    def learned() -> bool:
        again.update(score(asker, ZORBLAX_Q, mode="route"))
        return "learned from" in again["reason"]

    wait_for(learned, timeout_s=60, interval_s=1.5, what="a match weight learned from the labelled answer")
    assert again["answered_by"] == net["private"].peer_id, again["considered"]
    assert re.search(r"match weight \d+\.\d\d learned from [1-9]\d* labelled answers", again["reason"]), again["reason"]
