"""Consult: ask the knowledge peers whose corpora match the question, then answer here with their evidence.

The peers with the best knowledge match (up to ``CONSULT_PEERS``, from their ads'
summaries) get the job with ``evidence`` set. Each answers from its own documents and
returns short passages only if its policy shares them (``knowledge.share_passages``);
otherwise its answer alone comes back, which becomes a hint ("a peer holding documents
on this topic chose ..."). This node then answers the question itself with the
passages and hints in front of it. Evidence is never forwarded to another peer: when
this node cannot answer, the best-matching peer's own answer is delivered instead.
No peer advertising a corpus: the question is routed as in ``route``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..knowledge.prompting import grounded
from .answer import Answer
from .job import Job
from .knowledge_match import MATCH_FLOOR
from .mode_registry import register
from .utility import Estimate

if TYPE_CHECKING:
    from .policy import Collaborator, QueryContext, Reply

CONSULT_PEERS = 3
HINT_CHARS = 300
MAX_EVIDENCE = 4
EVIDENCE_MARGIN = 0.15


def knowledge_peers(estimates: list[Estimate], limit: int = CONSULT_PEERS) -> list[Estimate]:
    """Remote candidates whose corpus matches the question, best match first (at least the best one)."""
    knowing = sorted((e for e in estimates if e.knowledge_match is not None and not e.candidate.is_local),
                     key=lambda e: -(e.knowledge_match or 0.0))
    relevant = [e for e in knowing if (e.knowledge_match or 0.0) > MATCH_FLOOR]
    return (relevant or knowing[:1])[:limit]


def evidence_of(job: Job, replies: list[Reply]) -> tuple[list[str], list[str]]:
    """(passages shared, answer hints from peers that drew on documents but share no text).

    Every piece is ranked by the retrieval similarity its peer reported (a hint by its
    peer's best citation); only pieces within ``EVIDENCE_MARGIN`` of the best one and at
    most ``MAX_EVIDENCE`` are kept, so a peer whose documents only brush the question
    does not drown out the one whose documents answer it.
    """
    ranked: list[tuple[float, bool, str]] = []
    for r in replies:
        sims = [c.similarity for c in r.result.citations]
        if r.result.passages:
            ranked += [(sims[i] if i < len(sims) else 0.0, True, p) for i, p in enumerate(r.result.passages)]
        elif sims and r.choice is not None and r.choice < len(job.continuations):
            ranked.append((max(sims), False,
                           f"A peer holding documents on this topic chose: {job.continuations[r.choice].strip()}"))
        elif sims and r.result.text.strip():
            ranked.append((max(sims), False,
                           f"A peer holding documents on this topic answered: {r.result.text.strip()[:HINT_CHARS]}"))
    if not ranked:
        return [], []
    best = max(sim for sim, _, _ in ranked)
    kept = sorted((x for x in ranked if x[0] >= best - EVIDENCE_MARGIN), key=lambda x: -x[0])[:MAX_EVIDENCE]
    return [t for _, is_passage, t in kept if is_passage], [t for _, is_passage, t in kept if not is_passage]


def with_evidence(job: Job, evidence: list[str]) -> Job:
    messages, prompt = grounded(job.messages, job.prompt, evidence)
    return replace(job, messages=messages, prompt=prompt, evidence=False)


@register("consult")
async def run_consult(collab: Collaborator, ctx: QueryContext, estimates: list[Estimate]) -> Answer:
    peers = knowledge_peers(estimates)
    if not peers:
        reply = await collab.ask_first(ctx, [e.candidate for e in estimates])
        if reply is None:
            raise collab.failed(ctx)
        return collab.answer(ctx, reply, reason="no peer advertises documents matching the question; routed",
                             mode="consult")
    asked = replace(ctx.job, evidence=True)
    replies = await collab.ask_many(ctx, [(e.candidate, asked) for e in peers])
    passages, hints = evidence_of(ctx.job, replies)
    local = [e.candidate for e in estimates if e.candidate.is_local]
    final = await collab.ask_first(ctx, local, job=with_evidence(ctx.job, passages + hints)) if local else None
    matches = ", ".join(f"{e.candidate.peer_id[:12]}… {e.knowledge_match:.2f}" for e in peers)
    if final is None:
        if not replies:
            raise collab.failed(ctx, "no knowledge peer answered")
        best, *rest = replies
        return collab.answer(ctx, best, others=rest, mode="consult",
                             reason=f"this node could not answer; the best-matching knowledge peer's answer ({matches})")
    reason = (f"consulted {len(replies)}/{len(peers)} knowledge peers (match {matches}): {len(passages)} passages, "
              f"{len(hints)} answers without text; answered on this node with them")
    return collab.answer(ctx, final, others=replies, reason=reason, mode="consult")
