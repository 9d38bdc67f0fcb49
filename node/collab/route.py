"""Cold-start routing: rank candidates from their ads alone, within the request's limits.

This is the prior a node uses before it has a trained router (and the fallback when
the router has no head for a model): prefer the strongest model whose estimated
latency and cost fit the budget, break ties on speed, then on price. Constraints are
applied one at a time so an infeasible request learns *which* limit ruled everyone out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .candidates import Candidate
from .constraints import Constraints, InfeasibleConstraints
from .job import Job

Filter = tuple[str, Callable[[Candidate], bool], str]


def feasible(
    candidates: Sequence[Candidate],
    constraints: Constraints,
    *,
    prompt_tokens: int,
    max_tokens: int,
) -> list[Candidate]:
    """Candidates meeting every ad-checkable constraint; ``InfeasibleConstraints`` names the first that fails.

    ``min_quality`` needs the query's embedding and is applied by ``utility.require_quality``.
    """
    c = constraints
    filters: list[Filter] = [
        ("peer", lambda x: c.peer is None or x.peer_id == c.peer, f"peer {c.peer} has no fresh ad"),
        ("local_only", lambda x: not c.local_only or x.is_local, "only this node may answer"),
        (
            "require_tags",
            lambda x: set(c.require_tags) <= set(x.tags),
            f"no candidate carries tags {list(c.require_tags)}",
        ),
        (
            "max_cost",
            lambda x: c.max_cost is None or x.estimate_cost(prompt_tokens, max_tokens) <= c.max_cost,
            f"every candidate costs more than {c.max_cost}",
        ),
        (
            "budget_ms",
            lambda x: c.budget_ms is None or x.estimate_latency_ms(prompt_tokens, max_tokens) <= c.budget_ms,
            f"no candidate can answer within {c.budget_ms} ms",
        ),
    ]
    remaining = list(candidates)
    if not remaining:
        raise InfeasibleConstraints("availability", "no candidate is available")
    for name, keep, why in filters:
        remaining = [x for x in remaining if keep(x)]
        if not remaining:
            raise InfeasibleConstraints(name, why)
    return remaining


def rank_by_prior(candidates: Sequence[Candidate], *, prompt_tokens: int, max_tokens: int) -> list[Candidate]:
    """Strongest (claimed size times trust) first; unsaturated before saturated; then faster, then cheaper."""
    return sorted(
        candidates,
        key=lambda x: (
            x.saturated,
            -round(x.quality_prior * x.trust, 3),
            x.estimate_latency_ms(prompt_tokens, max_tokens),
            x.estimate_cost(prompt_tokens, max_tokens),
            not x.is_local,
        ),
    )


def estimate_tokens(text: str) -> int:
    """~4 characters per token: good enough to compare candidates, not to bill."""
    return max(1, len(text) // 4)


def job_tokens(job: Job) -> tuple[int, int]:
    """(prompt tokens, generated tokens) estimates; a score job reads every choice, generates none."""
    if job.kind == "score":
        return estimate_tokens(job.text) + sum(estimate_tokens(c) for c in job.continuations), 1
    return estimate_tokens(job.text), job.max_tokens
