"""Vertical routing: one peer answers.

``route``: the best-utility candidate answers; if it fails, the next one does (the
user sees an error only when every tried candidate failed). An unproven peer that comes
first is explored redundantly: asked alongside the best proven candidate, whose answer is
delivered (``ask_checked``). ``auto`` is the hybrid:
route first, then, when the routed model was not the strongest and its confidence is
below the calibrated threshold, escalate like a cascade (to the strongest peer or a
vote among the stronger peers, per ``escalate_to``) — "stronger" as the evidence for this
query says, never by size alone. Cold start (no trained head, no labelled answer): both
rank by the ad prior, where model size only breaks ties between equally unknown models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .answer import Answer
from .cascade import escalate
from .mode_registry import register
from .utility import Estimate
from .vouching import unproven

if TYPE_CHECKING:
    from .policy import Collaborator, QueryContext, Reply


def _route_reason(ctx: QueryContext, first: Estimate) -> str:
    matched = "" if first.knowledge_match is None else f"; its documents match the question ({first.knowledge_match:.2f}"
    if matched and ctx.knowledge_weight is not None:
        w = ctx.knowledge_weight
        matched += (f", match weight {w.weight:.2f} learned from {w.answers} labelled answers" if w.answers
                    else f", match weight {w.weight:.2f} as configured")
    matched += ")" if matched else ""
    if ctx.predictions:
        model = first.candidate.model
        p = first.p_correct if first.p_correct is not None else float("nan")
        evidence = ""
        view = ctx.quality
        if view is not None and model in view.posteriors:
            post = view.posteriors[model]
            evidence = f" from {post.neighbours} similar labelled answers" if post.neighbours else " (prior only)"
            if model == view.first:
                evidence += f"; exploring: thin evidence, goes first on {view.first_share:.0%} of questions"
            elif model in view.explored:
                evidence += f"; exploring (draw {view.ranking[model]:.2f})"
        others = ", ".join(f"{m} {q:.2f}" for m, q in sorted(ctx.predictions.items()) if m != model)
        versus = f" vs {others}" if others else ""
        why = "best utility"
        if view is not None and model == view.first:
            why = "thin-evidence exploration"
        elif view is not None and model in view.explored and any(q > p for m, q in ctx.predictions.items() if m != model):
            why = "exploration"  # a Thompson draw outranked a model whose posterior mean is higher
        return f"{why}: P(correct)={p:.2f} for {model}{evidence}{versus}; est. cost {first.cost:.4f}{matched}"
    if matched:
        return f"best knowledge match (no labelled answers yet){matched}"
    return "strongest model within the constraints (ad prior: no labelled answers yet)"


async def ask_checked(collab: Collaborator, ctx: QueryContext, estimates: list[Estimate]) -> tuple[Reply | None, list[Reply], str]:
    """The routed answer, with an unproven first choice explored redundantly.

    When the best-utility candidate is an unproven peer, it gets the question (its share of
    traffic is how newcomers are explored) but so does the best proven candidate (this node
    at worst), at the same time, and the proven answer is the one delivered: a newcomer's
    answer never reaches the user unchecked, and a liar's lure costs the user nothing. The
    newcomer's reply stays in the provenance (role by agreement). Returns (delivered reply,
    explored replies, note for the reason).
    """
    ranked = [e.candidate for e in estimates]
    first = ranked[0] if ranked else None
    pinned = ctx.constraints.peer
    own = collab.checks_peers
    backup = next((c for c in ranked[1:] if not unproven(c, pinned, own_evidence=own)), None)
    if first is None or not unproven(first, pinned, own_evidence=own) or backup is None:
        return await collab.ask_first(ctx, ranked), [], ""
    replies = await collab.ask_many(ctx, [(first, ctx.job), (backup, ctx.job)])
    proven = next((r for r in replies if r.candidate.peer_id == backup.peer_id), None)
    explored = [r for r in replies if r.candidate.peer_id == first.peer_id]
    if proven is None:  # the proven candidate failed: the rest of the ranking, newcomer included
        rest = [c for c in ranked if c.peer_id != backup.peer_id]
        if explored:
            return explored[0], [], f"; unproven {first.model} peer answered alone (the proven candidate failed)"
        return await collab.ask_first(ctx, rest[1:]), [], ""
    note = (f"; unproven {first.model} peer {first.peer_id[-6:]} asked alongside (exploration), "
            f"the proven {backup.model} answer delivered")
    return proven, explored, note


@register("route", "local")
async def run_route(collab: Collaborator, ctx: QueryContext, estimates: list[Estimate]) -> Answer:
    """The ``route`` mode: the best-ranked candidate answers (an unproven one only alongside a proven one)."""
    reply, explored, note = await ask_checked(collab, ctx, estimates)
    if reply is None:
        raise collab.failed(ctx)
    mode = "local" if ctx.mode == "local" else "route"
    return collab.answer(ctx, reply, others=explored, reason=_route_reason(ctx, estimates[0]) + note, mode=mode)


@register("auto")
async def run_auto(collab: Collaborator, ctx: QueryContext, estimates: list[Estimate]) -> Answer:
    """The ``auto`` mode: route, then escalate when the answer's confidence is low."""
    reply, explored, note = await ask_checked(collab, ctx, estimates)
    if reply is None:
        raise collab.failed(ctx)
    reason = _route_reason(ctx, estimates[0]) + note
    if not ctx.predictions or explored:
        return collab.answer(ctx, reply, others=explored, reason=reason, mode="auto")
    stronger = _stronger_than(reply.candidate.model, estimates)
    return await escalate(collab, ctx, reply, stronger, reason=reason, mode="auto")


def _stronger_than(model: str, estimates: list[Estimate]) -> list[Estimate]:
    """Candidates of models predicted (or, cold, sized) better than ``model``."""
    own = [e for e in estimates if e.candidate.model == model]
    if not own:
        return []
    mine = own[0]
    def quality(e: Estimate) -> float:
        return e.p_correct if e.p_correct is not None else e.candidate.quality_prior
    return [e for e in estimates if e.candidate.model != model and quality(e) > quality(mine)]
