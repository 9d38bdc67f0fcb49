"""Evidence from knowledge peers in ``moa`` (and ``consult``), with small fakes: peers as functions.

Knowledge peers carry a corpus summary built from the question's own embedding (match
about 1) or from unrelated text (match about 0); what they return (citations, and passages
only when their policy shares them) is set per peer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from collab_fakes import LARGE, SMALL, FakeEncoder, FakeNet, candidate, fake_embedder, mc
from peermind.node.collab.constraints import Tactics
from peermind.node.collab.embedding import query_text
from peermind.node.collab.job import Job
from peermind.node.knowledge import summarise
from peermind.protocol import Citation, KnowledgeSummary, TaskRequest, TaskResult

MC = Job(kind="score", prompt="Question: Which gas do plants take in?\nAnswer:",
         continuations=(" oxygen", " carbon dioxide", " helium"))
GEN = Job.question("Which gas do plants take in?", max_tokens=16)
PASSAGE = "Plants take in carbon dioxide through their leaves."


def summary_about(text: str) -> KnowledgeSummary:
    built = summarise(np.stack([FakeEncoder().encode_one(text)]), centroids=1)
    assert built is not None
    return built


@dataclass
class KnowledgeNet(FakeNet):
    """A FakeNet whose knowledge peers cite documents and share passages per their policy."""

    sharing: dict[str, bool] = field(default_factory=dict)

    async def _answer(self, peer: str, req: TaskRequest) -> TaskResult:
        result = await super()._answer(peer, req)
        if peer not in self.sharing:
            return result
        cited = [Citation(doc="d1", chunk=0, similarity=0.8)]
        shared = [PASSAGE] if req.evidence and self.sharing[peer] else []
        return replace(result, citations=cited, passages=shared)


def knowledge_net(job: Job) -> KnowledgeNet:
    on_topic = summary_about(query_text(job))
    off_topic = summary_about("a corpus about medieval castle architecture")
    return KnowledgeNet([
        candidate("me", local=True, **SMALL),
        candidate("big", **LARGE),
        replace(candidate("open", **SMALL), knowledge=on_topic),
        replace(candidate("private", model="qwen", params_m=200.0, cost=0.2), knowledge=on_topic),
        replace(candidate("far", **SMALL), knowledge=off_topic),
    ], sharing={"open": True, "private": False, "far": True})


def request_of(net: FakeNet, peer: str) -> TaskRequest:
    return next(req for p, req in net.calls if p == peer)


async def test_moa_mc_gathers_evidence_from_matching_peers_and_this_node_answers_with_it() -> None:
    n = knowledge_net(MC)
    n.set("open", scores=mc(-3.0, 0.0, -3.0))
    n.set("private", scores=mc(-3.0, 0.0, -3.0))
    n.set("big", scores=mc(0.0, -0.5, -3.0))
    n.set("me", scores=mc(-3.0, 0.0, -3.0))
    answer = await n.collaborator(embedder=fake_embedder()).run(MC, mode="moa")
    assert request_of(n, "open").evidence and request_of(n, "private").evidence
    assert not request_of(n, "big").evidence  # no corpus: a plain proposer
    assert "far" not in n.asked  # its corpus does not match the question
    mine = request_of(n, "me")  # asked last, with the shared passage and the private peer's answer only
    assert n.asked[-1] == "me" and n.asked.count("me") == 1 and not mine.evidence
    assert PASSAGE in mine.prompt and "A peer holding documents on this topic chose: carbon dioxide" in mine.prompt
    assert all(PASSAGE not in req.prompt for p, req in n.calls if p != "me")  # never forwarded
    assert answer.choice == 1 and answer.mode == "moa"
    assert "evidence from 2 knowledge peers" in answer.reason and "1 passages, 1 answers without text" in answer.reason


async def test_moa_generation_aggregates_on_this_node_with_the_passages() -> None:
    n = knowledge_net(GEN)
    n.set("open", text="carbon dioxide")
    n.set("private", text="CO2")
    n.set("big", text="oxygen")
    n.set("me", text="Plants take in carbon dioxide.")
    answer = await n.collaborator(embedder=fake_embedder()).run(GEN, mode="moa")
    system = request_of(n, "me").messages[0].content
    assert PASSAGE in system and "Responses from models" in system
    assert answer.answered_by == "me" and answer.text == "Plants take in carbon dioxide."
    assert all(PASSAGE not in m.content for p, req in n.calls if p != "me" for m in req.messages)


async def test_moa_with_a_pinned_remote_aggregator_keeps_the_passages_here() -> None:
    n = knowledge_net(GEN)
    answer = await n.collaborator(embedder=fake_embedder()).run(GEN, mode="moa", tactics=Tactics(aggregator="big"))
    assert answer.answered_by == "big" and "not used" in answer.reason
    assert all(PASSAGE not in m.content for p, req in n.calls if p != "open" for m in req.messages)


async def test_moa_without_matching_knowledge_peers_is_unchanged() -> None:
    n = knowledge_net(MC)
    n.candidates = [c for c in n.candidates if c.peer_id not in ("open", "private")]
    answer = await n.collaborator(embedder=fake_embedder()).run(MC, mode="moa")
    assert all(not req.evidence for _p, req in n.calls) and "evidence" not in answer.reason
    assert "far" not in n.asked or not request_of(n, "far").evidence


async def test_consult_still_answers_here_with_the_evidence() -> None:
    n = knowledge_net(MC)
    n.set("me", scores=mc(-3.0, 0.0, -3.0))
    answer = await n.collaborator(embedder=fake_embedder()).run(MC, mode="consult")
    assert answer.answered_by == "me" and PASSAGE in request_of(n, "me").prompt
    assert "1 passages, 1 answers without text" in answer.reason


async def test_moa_with_pinned_proposers_outside_the_knowledge_peers_is_plain_moa() -> None:
    n = knowledge_net(GEN)
    answer = await n.collaborator(embedder=fake_embedder()).run(GEN, mode="moa", tactics=Tactics(proposers=("me",)))
    assert all(not req.evidence for _p, req in n.calls) and "evidence" not in answer.reason
