"""Consult: ask the knowledge peers whose corpora match the question, then answer here with their evidence.

The peers with the best knowledge match (up to ``evidence.EVIDENCE_PEERS``, from their
ads' summaries) get the job with ``evidence`` set; what they return (passages where their
policy shares them, else only their answers) goes in front of the question and this
node answers it itself (``evidence.py``). Evidence is never forwarded to another peer:
when this node cannot answer, the best-matching peer's own answer is delivered instead.
No peer advertising a corpus: the question is routed as in ``route``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .answer import Answer
from .evidence import evidence_of, knowledge_peers, matches_text, with_evidence
from .mode_registry import register
from .utility import Estimate

if TYPE_CHECKING:
    from .policy import Collaborator, QueryContext


@register("consult")
async def run_consult(collab: Collaborator, ctx: QueryContext, estimates: list[Estimate]) -> Answer:
    """``consult``: gather evidence from the best-matching knowledge peers, then answer with it here
    (documents stay home; only what each peer's policy shares travels). No knowledge peer: ``route``."""
    peers = knowledge_peers(estimates)
    if not peers:
        reply = await collab.ask_first(ctx, [e.candidate for e in estimates])
        if reply is None:
            raise collab.failed(ctx)
        return collab.answer(ctx, reply, reason="no peer advertises documents matching the question; routed",
                             mode="consult")
    asked = replace(ctx.job, evidence=True)
    replies = await collab.ask_many(ctx, [(e.candidate, asked) for e in peers])
    evidence = evidence_of(ctx.job, replies)
    local = [e.candidate for e in estimates if e.candidate.is_local]
    final = await collab.ask_first(ctx, local, job=with_evidence(ctx.job, evidence.pieces)) if local else None
    matches = matches_text(peers)
    if final is None:
        if not replies:
            raise collab.failed(ctx, "no knowledge peer answered")
        best, *rest = replies
        return collab.answer(ctx, best, others=rest, mode="consult",
                             reason=f"this node could not answer; the best-matching knowledge peer's answer ({matches})")
    reason = (f"consulted {len(replies)}/{len(peers)} knowledge peers (match {matches}): {evidence.summary()}; "
              "answered on this node with them")
    return collab.answer(ctx, final, others=replies, reason=reason, mode="consult")
