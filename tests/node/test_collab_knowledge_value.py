"""Routing learns what a knowledge peer's corpus match is worth from labelled rows (small fakes, real Collaborator).

A SmolLM2 peer "docs" advertises a corpus that matches the question; Gemma-3 "big" has
none. With the configured weight the match wins the question for "docs". Labelled rows
then say whether its answers on such questions beat what SmolLM2 does without them: the
weight (shown by ``--explain``'s reason) moves within tens of rows, and the route with it.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
from collab_fakes import LARGE, SMALL, FakeEncoder, FakeNet, candidate, fake_embedder
from peermind.node.collab.constraints import Tactics
from peermind.node.collab.embedding import query_text
from peermind.node.collab.job import Job
from peermind.node.collab.knowledge_value import KnowledgeWeight, matched_outcomes
from peermind.node.collab.quality import QualityMemory
from peermind.node.knowledge import summarise
from peermind.node.store import FeedbackRecord

MC = Job(kind="score", prompt="Question: Which gas do plants take in?\nAnswer:",
         continuations=(" oxygen", " carbon dioxide", " helium"))
NO_EXPLORE = Tactics(explore=False)


def net() -> FakeNet:
    question = FakeEncoder().encode_one(query_text(MC))
    summary = summarise(np.stack([question]), centroids=1)
    return FakeNet([candidate("me", local=True, **SMALL), candidate("big", **LARGE),
                    replace(candidate("docs", **SMALL), knowledge=summary)])


def rows(outcomes: dict[tuple[str, str], list[bool]]) -> list[FeedbackRecord]:
    """Labelled rows on near-copies of the question, per (peer, model)."""
    base = FakeEncoder().encode_one(query_text(MC))
    rng = np.random.default_rng(0)
    out = []
    for (peer, model), labels in outcomes.items():
        for correct in labels:
            out.append(FeedbackRecord(len(out) + 1, None, (base + 0.01 * rng.standard_normal(base.shape)).astype(np.float32),
                                      f"q{len(out)}", peer, model, "route", correct, 0.0, 1.0, 0.0, time.time()))
    return out


def memory(records: list[FeedbackRecord]) -> QualityMemory:
    mem = QualityMemory(None, rng=np.random.default_rng(0))
    mem.load(records)
    return mem


def labelled(docs_right: int, docs_n: int, alone_right: int, alone_n: int) -> list[FeedbackRecord]:
    return rows({("docs", "smollm2"): [True] * docs_right + [False] * (docs_n - docs_right),
                 ("me", "smollm2"): [True] * alone_right + [False] * (alone_n - alone_right),
                 ("big", "gemma3-270m"): [True] * 14 + [False] * 6})


async def test_with_few_labelled_rows_the_configured_weight_sends_the_question_to_the_documents() -> None:
    n = net()
    answer = await n.collaborator(embedder=fake_embedder(), quality=memory(labelled(1, 2, 6, 10))).run(
        MC, mode="route", tactics=NO_EXPLORE)
    assert answer.answered_by == "docs", answer.considered
    assert "its documents match the question" in answer.reason and "learned from 2 labelled answers" in answer.reason


async def test_documents_that_do_not_beat_the_model_alone_lose_their_weight_within_tens_of_rows() -> None:
    weights = []
    question = FakeEncoder().encode_one(query_text(MC))
    for docs_n in (10, 20, 30):
        n = net()
        mem = memory(labelled(docs_n // 2, docs_n, 10, 20))
        collab = n.collaborator(embedder=fake_embedder(), quality=mem)
        answer = await collab.run(MC, mode="route", tactics=NO_EXPLORE)
        weights.append(collab.knowledge_value.learned(question, mem, n.candidates).weight)
    assert weights == sorted(weights, reverse=True) and weights[0] < 0.8 and weights[-1] < 0.1, weights
    assert answer.answered_by == "big", answer.considered  # Gemma-3 alone is better here than SmolLM2 with the corpus


async def test_documents_that_do_help_keep_the_question() -> None:
    n = net()
    collab = n.collaborator(embedder=fake_embedder(), quality=memory(labelled(18, 20, 4, 20)))
    answer = await collab.run(MC, mode="route", tactics=NO_EXPLORE)
    assert answer.answered_by == "docs", answer.considered


def test_only_rows_of_peers_whose_corpus_matches_teach_the_weight() -> None:
    records = labelled(5, 10, 5, 10)
    n = net()
    summaries = {c.peer_id: c.knowledge for c in n.candidates if c.knowledge is not None}
    mem = memory(records)
    taught = list(matched_outcomes(records, summaries, mem.neighbours))
    assert len(taught) == 10 and all(o.excess > 0.5 for o in taught)
    assert all(0.0 < o.baseline < 1.0 for o in taught)
    weight = KnowledgeWeight(1.0)
    first = weight.learned(records[0].query_embedding, mem, n.candidates)
    assert first.answers == 10 and weight.learned(records[0].query_embedding, mem, n.candidates) == first
