"""Per-request constraints and the typed refusal that names the one that failed."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import NodeError

MODES = ("auto", "local", "route", "cascade", "vote", "moa")


class CollaborationError(NodeError):
    """No acceptable answer could be produced."""


class InfeasibleConstraints(CollaborationError):
    """No candidate satisfies the request's constraints; ``constraint`` names which."""

    def __init__(self, constraint: str, detail: str) -> None:
        super().__init__(f"no peer satisfies {constraint}: {detail}")
        self.constraint = constraint


class AllCandidatesFailed(CollaborationError):
    """Every candidate tried refused, timed out or failed."""


@dataclass(frozen=True)
class Constraints:
    budget_ms: float | None = None
    max_cost: float | None = None
    local_only: bool = False
    require_tags: tuple[str, ...] = ()
    min_quality: float | None = None
    peer: str | None = None


NO_CONSTRAINTS = Constraints()
