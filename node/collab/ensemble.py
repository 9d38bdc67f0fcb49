"""Several peers answer the same query: vote (self-consistency) and mixture-of-agents.

Members are chosen for diversity: the best-utility peer of each distinct model first,
then (generation only) further peers, sampling at temperature >= 0.7 when they repeat a
model, since greedy decoding or scoring on the same model only repeats the same answer.

Vote. Multiple choice: each member scores the choices; the plurality of their picks wins,
a tie going to the tied choice with the highest summed probability ("majority"), or
the choice with the highest summed probability wins outright ("weighted", a soft vote).
Generation: answers are normalised (last number, else lower-cased words of the first
line) and the largest group wins; its most confident member's text is the answer, and
the confidence is the group's share of the votes.

Mixture-of-agents (one layer). Generation: proposers answer in parallel, then the
aggregator peer (the strongest by default) gets the proposals in a system message asking
it to synthesise one answer (the MoA paper's aggregate-and-synthesise prompt); if the
aggregator fails, the proposals are put to a vote. Multiple choice: a 135M-270M model
rereading other models' picks is not a meaningful aggregator, so the asking node
aggregates arithmetically: the answer is the argmax of the proposers' choice
distributions averaged with weights = the learned router's P(correct) of each
proposer's model for this query (equal weights before the router is trained) times
the trust hook's weight. The aggregator peer scores too, as one more proposer.

Evidence. When peers advertise a corpus matching the question (``evidence.py``), they
join the proposers with ``evidence`` set: each answers from its own documents and
returns short passages where its policy shares them, else only its answer. This node
then answers with that evidence in front of the question, and only here (evidence never
goes on to another peer): for multiple choice its grounded distribution is one more
member of the mixture; for generation it is the aggregator, with the passages beside
the proposals (unless the request pinned another aggregator, which then gets the
proposals alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from peermind.protocol import ChatMessage

from ..knowledge.prompting import context_block
from .answer import Answer
from .candidates import Candidate
from .confidence import argmax, as_scores, majority_choice, majority_text, weighted_mixture
from .constraints import InfeasibleConstraints
from .evidence import Evidence, evidence_of, knowledge_peers, matches_text, with_evidence
from .job import Job
from .mode_registry import register
from .utility import Estimate, best_quality_first

if TYPE_CHECKING:
    from .policy import Collaborator, QueryContext, Reply

DEFAULT_K = 3
SAMPLING_TEMPERATURE = 0.7
AGGREGATE_PROMPT = (
    "You have been provided with a set of responses from various models to the latest user "
    "query. Your task is to synthesize these responses into a single, high-quality response. "
    "Critically evaluate the information provided in these responses, recognizing that some "
    "of it may be biased or incorrect. Do not simply replicate the given answers; offer a "
    "refined, accurate and concise reply.\n\nResponses from models:"
)


@dataclass(frozen=True)
class Combined:
    """The outcome of asking several peers: the replies and the one combined answer."""

    final: Reply
    others: list[Reply]
    scores: list[tuple[float, int]] | None
    confidence: float
    choice: int | None
    text: str | None
    reason: str


def plan_members(estimates: Sequence[Estimate], k: int, job: Job) -> list[tuple[Candidate, Job]]:
    """Up to ``k`` (candidate, job) pairs: one per distinct model first, then repeats (generation only)."""
    seen_models: set[str] = set()
    firsts: list[Estimate] = []
    repeats: list[Estimate] = []
    for e in estimates:
        (repeats if e.candidate.model in seen_models else firsts).append(e)
        seen_models.add(e.candidate.model)
    plan = [(e.candidate, job) for e in firsts[:k]]
    if job.kind == "generate":
        sampled = job.with_temperature(max(job.temperature, SAMPLING_TEMPERATURE))
        plan += [(e.candidate, sampled) for e in repeats[: max(0, k - len(plan))]]
    return plan


async def _gather(collab: Collaborator, ctx: QueryContext, plan: list[tuple[Candidate, Job]],
                  spares: list[tuple[Candidate, Job]]) -> list[Reply]:
    """Ask the plan at once; one round of spares replaces members that failed."""
    replies = await collab.ask_many(ctx, plan)
    missing = len(plan) - len(replies)
    if missing and spares and ctx.remaining_s > 0.1:
        replies += await collab.ask_many(ctx, spares[:missing])
    return replies


def combine_votes(replies: Sequence[Reply], rule: str) -> Combined:
    """The vote's winner among ``replies`` (pure; see the module docstring)."""
    if replies[0].choice is not None:
        dists = [list(r.distribution or ()) for r in replies]
        picks = [r.choice for r in replies if r.choice is not None]
        if rule == "weighted":
            combined = weighted_mixture(dists, [1.0] * len(dists))
            winner = argmax(combined)
        else:
            winner, combined = majority_choice(picks, dists)
        backers = [r for r in replies if r.choice == winner] or list(replies)
        final = max(backers, key=lambda r: r.confidence)
        others = [r for r in replies if r is not final]
        n_for = sum(1 for r in replies if r.choice == winner)
        return Combined(final, others, as_scores(combined), combined[winner], winner, None,
                        f"{rule} vote: {n_for}/{len(replies)} picked choice {winner}")
    speaker, share = majority_text([(r.result.text, r.confidence) for r in replies])
    final = replies[speaker]
    others = [r for i, r in enumerate(replies) if i != speaker]
    return Combined(final, others, None, share, None, final.result.text,
                    f"majority of normalised answers: {share:.0%} agree")


async def vote(collab: Collaborator, ctx: QueryContext, estimates: Sequence[Estimate]) -> Combined | None:
    """Ask the chosen voters and combine their replies by the vote rule; None when too few answered."""
    k = ctx.tactics.k or DEFAULT_K
    members = plan_members(estimates, k, ctx.job)
    used = {c.peer_id for c, _ in members}
    spares = [(e.candidate, ctx.job) for e in estimates if e.candidate.peer_id not in used]
    replies = await _gather(collab, ctx, members, spares)
    if not replies:
        return None
    return combine_votes(replies, ctx.tactics.vote_rule)


@register("vote")
async def run_vote(collab: Collaborator, ctx: QueryContext, estimates: list[Estimate]) -> Answer:
    """The ``vote`` mode: several peers answer, the majority (or weighted mixture) wins."""
    combined = await vote(collab, ctx, estimates)
    if combined is None:
        raise collab.failed(ctx, "no voter answered")
    return collab.answer(ctx, combined.final, others=combined.others, scores=combined.scores,
                         confidence=combined.confidence, choice=combined.choice, text=combined.text,
                         reason=combined.reason, mode="vote")


# ---------------------------------------------------------------------- mixture of agents
def _pick(estimates: Sequence[Estimate], peer_ids: Sequence[str], what: str) -> list[Estimate]:
    by_id = {e.candidate.peer_id: e for e in estimates}
    unknown = [p for p in peer_ids if p not in by_id]
    if unknown:
        raise InfeasibleConstraints(what, f"{', '.join(unknown)} not among the feasible candidates")
    return [by_id[p] for p in peer_ids]


def moa_members(ctx: QueryContext, estimates: Sequence[Estimate]) -> tuple[list[tuple[Candidate, Job]], Estimate, list[Estimate]]:
    """(proposer plan, aggregator, aggregator fallbacks)."""
    t = ctx.tactics
    if t.aggregator:
        aggregator = _pick(estimates, [t.aggregator], "aggregator")[0]
    else:
        aggregator = best_quality_first(estimates)[0]
    if t.proposers:
        chosen = _pick(estimates, t.proposers, "proposers")
        plan = [(e.candidate, ctx.job) for e in chosen]
    else:
        plan = plan_members(estimates, t.k or DEFAULT_K, ctx.job)
    fallbacks = [e for e in best_quality_first(estimates) if e.candidate.peer_id != aggregator.candidate.peer_id]
    return plan, aggregator, fallbacks


def mixture(replies: Sequence[Reply], weights: Sequence[float]) -> Combined:
    """Reliability-weighted mean of the proposers' choice distributions (pure)."""
    combined = weighted_mixture([list(r.distribution or ()) for r in replies], weights)
    winner = argmax(combined)
    backers = [(w * r.confidence, i) for i, (r, w) in enumerate(zip(replies, weights, strict=True)) if r.choice == winner]
    final_i = max(backers)[1] if backers else 0
    final = replies[final_i]
    others = [r for i, r in enumerate(replies) if i != final_i]
    shown = ", ".join(f"{r.candidate.model}:{w:.2f}" for r, w in zip(replies, weights, strict=True))
    return Combined(final, others, as_scores(combined), combined[winner], winner, None,
                    f"weighted mixture of {len(replies)} distributions (weights {shown})")


def aggregation_job(job: Job, proposals: Sequence[str], evidence: Sequence[str] = ()) -> Job:
    """The aggregator's job: one system turn with ``evidence`` (this node only), then the proposals."""
    listed = "\n".join(f"{i + 1}. {p.strip()}" for i, p in enumerate(proposals))
    system = (context_block(evidence) if evidence else "") + f"{AGGREGATE_PROMPT}\n{listed}"
    turns = [m for m in job.messages if m.role != "system"] if job.messages else [
        ChatMessage(role="user", content=job.prompt)]
    messages = (ChatMessage(role="system", content=system), *turns)
    return Job(kind="generate", messages=messages, max_tokens=job.max_tokens, temperature=job.temperature)


@dataclass(frozen=True)
class EvidencePlan:
    """moa with knowledge peers: who proposes (knowledge peers asked for evidence) and who grounds."""

    plan: list[tuple[Candidate, Job]]
    local: Candidate
    knowing: list[Estimate]


def evidence_plan(ctx: QueryContext, estimates: Sequence[Estimate],
                  plan: list[tuple[Candidate, Job]]) -> EvidencePlan | None:
    """The proposer plan with the matching knowledge peers asked for evidence (None: none to ask).

    This node leaves the proposers: it answers once, after the others, with their evidence.
    Pinned proposers stay as pinned (those among the knowledge peers are asked for evidence).
    """
    local = next((e.candidate for e in estimates if e.candidate.is_local), None)
    knowing = knowledge_peers(estimates, at_least_one=False)
    if local is None or not knowing:
        return None
    wanted = {e.candidate.peer_id for e in knowing}
    members = [(c, replace(j, evidence=True) if c.peer_id in wanted else j) for c, j in plan if not c.is_local]
    if not ctx.tactics.proposers:
        present = {c.peer_id for c, _ in members}
        members += [(e.candidate, replace(ctx.job, evidence=True)) for e in knowing if e.candidate.peer_id not in present]
    if not any(j.evidence for _, j in members):  # pinned proposers hold no matching corpus: plain moa
        return None
    return EvidencePlan(members, local, [e for e in knowing if any(c.peer_id == e.candidate.peer_id for c, _ in members)])


def _evidence_note(plan: EvidencePlan, evidence: Evidence, used: bool) -> str:
    where = "answered on this node with it" if used else "not used (no local answer)"
    return f"; evidence from {len(plan.knowing)} knowledge peers (match {matches_text(plan.knowing)}): {evidence.summary()}, {where}"


@register("moa")
async def run_moa(collab: Collaborator, ctx: QueryContext, estimates: list[Estimate]) -> Answer:
    """The ``moa`` mode: proposers answer, an aggregator writes the final answer from their proposals."""
    plan, aggregator, fallbacks = moa_members(ctx, estimates)
    if ctx.job.kind == "score" and all(c.peer_id != aggregator.candidate.peer_id for c, _ in plan):
        plan.append((aggregator.candidate, ctx.job))
    grounding = evidence_plan(ctx, estimates, plan)
    if grounding is not None:
        combined = await _moa_with_evidence(collab, ctx, grounding, aggregator, fallbacks)
    elif ctx.job.kind == "score":
        replies = await collab.ask_many(ctx, plan)
        if not replies:
            raise collab.failed(ctx, "no proposer answered")
        combined = _mix(collab, ctx, replies)
    else:
        proposals = await collab.ask_many(ctx, plan)
        if not proposals:
            raise collab.failed(ctx, "no proposer answered")
        combined = await _aggregate(collab, ctx, proposals, [aggregator.candidate] + [e.candidate for e in fallbacks])
    return collab.answer(ctx, combined.final, others=combined.others, scores=combined.scores,
                         confidence=combined.confidence, choice=combined.choice, text=combined.text,
                         reason=combined.reason, mode="moa")


async def _moa_with_evidence(collab: Collaborator, ctx: QueryContext, grounding: EvidencePlan,
                             aggregator: Estimate, fallbacks: Sequence[Estimate]) -> Combined:
    """Proposers first (knowledge peers with evidence), then this node answers with what they gave."""
    proposals = await collab.ask_many(ctx, grounding.plan)
    evidence = evidence_of(ctx.job, proposals)
    if ctx.job.kind == "score":
        mine = await collab.ask_first(ctx, [grounding.local], job=with_evidence(ctx.job, evidence.pieces))
        replies = [*proposals, mine] if mine is not None else proposals
        if not replies:
            raise collab.failed(ctx, "no proposer answered")
        combined = _mix(collab, ctx, replies)
        return replace(combined, reason=combined.reason + _evidence_note(grounding, evidence, mine is not None))
    if not proposals:
        raise collab.failed(ctx, "no proposer answered")
    agg_job = aggregation_job(ctx.job, [r.result.text for r in proposals], evidence.pieces)
    pinned_elsewhere = ctx.tactics.aggregator and ctx.tactics.aggregator != grounding.local.peer_id
    final = None if pinned_elsewhere else await collab.ask_first(ctx, [grounding.local], job=agg_job)
    if final is not None:
        return Combined(final, list(proposals), None, final.confidence, None, final.result.text,
                        f"{final.candidate.model} on this node synthesised {len(proposals)} proposals"
                        + _evidence_note(grounding, evidence, True))
    others = [aggregator.candidate] + [e.candidate for e in fallbacks]
    combined = await _aggregate(collab, ctx, proposals, [c for c in others if not c.is_local])
    return replace(combined, reason=combined.reason + _evidence_note(grounding, evidence, False))


def _mix(collab: Collaborator, ctx: QueryContext, replies: Sequence[Reply]) -> Combined:
    return mixture(replies, [_reliability(collab, ctx, r.candidate) for r in replies])


async def _aggregate(collab: Collaborator, ctx: QueryContext, proposals: Sequence[Reply],
                     aggregators: Sequence[Candidate]) -> Combined:
    """The first aggregator that answers synthesises ``proposals``; none: a majority vote among them."""
    agg_job = aggregation_job(ctx.job, [r.result.text for r in proposals])
    final = await collab.ask_first(ctx, aggregators, job=agg_job)
    if final is None:
        combined = combine_votes(proposals, "majority")
        return Combined(combined.final, combined.others, None, combined.confidence, None, combined.text,
                        f"aggregator failed; {combined.reason}")
    return Combined(final, list(proposals), None, final.confidence, None, final.result.text,
                    f"{final.candidate.model} synthesised {len(proposals)} proposals")


def _reliability(collab: Collaborator, ctx: QueryContext, candidate: Candidate) -> float:
    if ctx.predictions:
        p = ctx.predictions.get(candidate.model, sum(ctx.predictions.values()) / len(ctx.predictions))
    else:
        p = 1.0
    weight = collab.hooks.peer_weight(candidate.peer_id) if collab.hooks.peer_weight else 1.0
    return p * weight
