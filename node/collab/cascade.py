"""Cascade: answer on the cheapest capable peer, escalate only when it is unsure.

Models are grouped into tiers by price (cheapest first). The cheapest tier answers;
if its confidence (top-choice probability for multiple choice, mean token log-prob for
generation) is below the threshold calibrated on the validation split for that model,
the next tier answers, and so on — but only tiers whose model the router does not
predict worse for this query (a pricier model is not a better one). ``escalate_to="vote"`` makes the escalation target a
vote among all stronger peers instead (the hybrid). Escalation never breaks the
request's limits: it is skipped when the stronger tier's estimated latency or cost would
overrun ``budget_ms`` / ``max_cost``, and if every stronger peer fails, the cheap answer
is returned with the reason (the user does not see an error).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .answer import Answer
from .mode_registry import register
from .utility import Estimate
from .vouching import unproven

if TYPE_CHECKING:
    from .policy import Collaborator, QueryContext, Reply


def model_tiers(estimates: Sequence[Estimate]) -> list[list[Estimate]]:
    """Estimates grouped by model, cheapest model first; each group keeps the utility order."""
    groups: dict[str, list[Estimate]] = {}
    for e in estimates:
        groups.setdefault(e.candidate.model, []).append(e)

    def price(group: list[Estimate]) -> tuple[float, float]:
        cheapest = min(e.cost for e in group)
        best_p = max((e.p_correct if e.p_correct is not None else e.candidate.quality_prior) for e in group)
        return (round(cheapest, 9), -best_p)

    return sorted(groups.values(), key=price)


@register("cascade")
async def run_cascade(collab: Collaborator, ctx: QueryContext, estimates: list[Estimate]) -> Answer:
    """The ``cascade`` mode: the cheapest tier first, escalating while the answer's confidence is below its threshold."""
    tiers = model_tiers(estimates)
    for i, tier in enumerate(tiers):
        reply = await collab.ask_first(ctx, [e.candidate for e in tier])
        if reply is None:
            continue  # the whole tier failed: the next tier answers instead
        stronger = better_than(reply.candidate.model, [e for t in tiers[i + 1:] for e in t], ctx.evidence)
        reason = f"cheapest tier {reply.candidate.model}" if i == 0 else f"tier {i} ({reply.candidate.model}) after earlier tiers failed"
        return await escalate(collab, ctx, reply, stronger, reason=reason, mode="cascade")
    raise collab.failed(ctx)


async def escalate(
    collab: Collaborator,
    ctx: QueryContext,
    reply: Reply,
    stronger: list[Estimate],
    *,
    reason: str,
    mode: str,
    earlier: Sequence[Reply] = (),
) -> Answer:
    """Keep ``reply`` if it is confident enough (or nothing stronger fits); else ask a stronger tier.

    Only peers the trust layer vouches for are escalation targets: an escalated answer
    replaces the one in hand, so an unproven peer never gets the final word this way.
    """
    stronger = [e for e in stronger if not unproven(e.candidate, ctx.constraints.peer, own_evidence=collab.checks_peers)]
    threshold, source = collab.threshold(ctx.tactics, reply.candidate.model, ctx.job.kind)
    summary = f"{reason}; confidence {reply.confidence:.3f} vs {source} threshold {threshold:.3f}"
    if not stronger or reply.confidence >= threshold:
        why = "kept" if reply.confidence >= threshold else "kept (no stronger peer)"
        return collab.answer(ctx, reply, others=earlier, escalated=bool(earlier), reason=f"{summary}: {why}", mode=mode)
    blocked = _escalation_blocked(ctx, reply, earlier, stronger)
    if blocked:
        return collab.answer(ctx, reply, others=earlier, escalated=bool(earlier), reason=f"{summary}: {blocked}", mode=mode)
    spent = [*earlier, reply]
    if ctx.tactics.escalate_to == "vote" and _can_vote(ctx, stronger):
        from .ensemble import vote

        combined = await vote(collab, ctx, stronger)
        if combined is None:
            return collab.answer(ctx, reply, others=earlier, escalated=bool(earlier),
                                 reason=f"{summary}: escalation vote failed, kept", mode=mode)
        return collab.answer(
            ctx, combined.final, others=[*spent, *combined.others], escalated=True, scores=combined.scores,
            confidence=combined.confidence, choice=combined.choice, text=combined.text, mode=mode,
            reason=f"{summary}: escalated to a vote of {1 + len(combined.others)} stronger peers; {combined.reason}",
        )
    tiers = _tiers(stronger)
    for j, tier in enumerate(tiers):
        better = await collab.ask_first(ctx, [e.candidate for e in tier])
        if better is None:
            continue
        rest = better_than(better.candidate.model, [e for t in tiers[j + 1:] for e in t], ctx.evidence)
        return await escalate(collab, ctx, better, rest, reason=f"{summary}: escalated to {better.candidate.model}",
                              mode=mode, earlier=spent)
    return collab.answer(ctx, reply, others=earlier, escalated=bool(earlier),
                         reason=f"{summary}: every stronger peer failed, kept", mode=mode)


def better_than(model: str, estimates: list[Estimate], predictions: dict[str, float]) -> list[Estimate]:
    """The escalation targets the evidence does not rank below ``model`` for this query.

    A pricier tier is not a better one: where the evidence gives P(correct) for both
    models (the per-query predictions, or while the embedder loads each model's overall
    labelled accuracy: ``QueryContext.evidence``), escalating to a model it ranks worse
    only adds cost (and, measured here, loses accuracy). Without any labelled row (cold
    start) every pricier tier stays.
    """
    own = predictions.get(model)
    if own is None:
        return estimates
    return [e for e in estimates if predictions.get(e.candidate.model, own + 1.0) > own]


def _can_vote(ctx: QueryContext, stronger: list[Estimate]) -> bool:
    """A vote needs two different answers to be possible: two models, or sampling (generation)."""
    if ctx.job.kind == "generate":
        return len(stronger) >= 2
    return len({e.candidate.model for e in stronger}) >= 2


def _tiers(estimates: list[Estimate]) -> list[list[Estimate]]:
    return model_tiers(estimates)


def _escalation_blocked(ctx: QueryContext, reply: Reply, earlier: Sequence[Reply], stronger: list[Estimate]) -> str:
    c = ctx.constraints
    if c.budget_ms is not None:
        fastest = min(e.latency_ms for e in stronger)
        if ctx.elapsed_ms + fastest > c.budget_ms:
            return f"escalation skipped: {ctx.elapsed_ms:.0f} ms spent + ~{fastest:.0f} ms would exceed budget_ms {c.budget_ms:.0f}"
    if c.max_cost is not None:
        spent = reply.cost + sum(r.cost for r in earlier)
        cheapest = min(e.cost for e in stronger)
        if spent + cheapest > c.max_cost:
            return f"escalation skipped: cost {spent:.4f} + {cheapest:.4f} would exceed max_cost {c.max_cost}"
    if ctx.remaining_s < 0.1:
        return "escalation skipped: timeout reached"
    return ""
