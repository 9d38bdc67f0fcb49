"""What a request may ask for: hard constraints (filters) and tactics (how a mode behaves).

Constraints rule candidates out and produce a typed refusal naming the one that failed;
tactics only steer a mode (how many voters, who aggregates, how cost trades off against
quality). Both parse from the same JSON object (``peermind`` in the OpenAI body, or the
top level of ``/peermind/ask`` and ``/peermind/score``) with ``parse_request_options``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from ..collab_choices import ESCALATE_TO, MODES, VOTE_RULES
from .errors import (
    AllCandidatesFailed,
    CollaborationError,
    InfeasibleConstraints,
    InvalidOptions,
)

MAX_K = 8

__all__ = [
    "ESCALATE_TO",
    "MODES",
    "NO_CONSTRAINTS",
    "NO_TACTICS",
    "VOTE_RULES",
    "AllCandidatesFailed",
    "CollaborationError",
    "Constraints",
    "InfeasibleConstraints",
    "RequestOptions",
    "Tactics",
    "parse_request_options",
]


@dataclass(frozen=True)
class Constraints:
    """Hard limits; a candidate that breaks one is never asked.

    ``min_quality`` is a minimum predicted P(correct) in [0, 1] from the learned router
    (a model without a trained head has no prediction and cannot meet it).
    """

    budget_ms: float | None = None
    max_cost: float | None = None
    local_only: bool = False
    require_tags: tuple[str, ...] = ()
    min_quality: float | None = None
    peer: str | None = None

    def with_local_only(self) -> Constraints:
        """The same constraints restricted to this node's own model."""
        return replace(self, local_only=True)


NO_CONSTRAINTS = Constraints()


@dataclass(frozen=True)
class Tactics:
    """Knobs of the modes; None means "the node's calibrated or built-in default".

    - ``k``: voters (vote), proposers (moa) or bidders (auction).
    - ``proposers`` / ``aggregator``: peer IDs for mixture-of-agents.
    - ``cost_weight``: lambda in utility = P(correct) - lambda * cost/max_cost - mu * latency/max_latency.
    - ``threshold``: cascade confidence below which the answer escalates.
    - ``escalate_to``: "strongest" peer or a "vote" among the stronger peers (hybrid).
    - ``vote_rule``: "majority" of picks (ties by summed probability) or "weighted" (soft vote).
    - ``negotiate``: choose the peer by contract net (offer, bids, award) instead of ads.
    - ``explore``: rank models the router knows little about by a Thompson draw from their
      quality posterior instead of its mean (route/auto), so new peers and new kinds of
      question get tried; false ranks by the mean only (reproducible decisions).
    """

    k: int | None = None
    proposers: tuple[str, ...] = ()
    aggregator: str | None = None
    cost_weight: float | None = None
    threshold: float | None = None
    escalate_to: str = "strongest"
    vote_rule: str = "majority"
    negotiate: bool = False
    explore: bool = True


NO_TACTICS = Tactics()


@dataclass(frozen=True)
class RequestOptions:
    """A request's options parsed once: mode, constraints, tactics and timeout."""

    mode: str
    constraints: Constraints
    tactics: Tactics
    timeout_s: float


def _number(opts: Mapping[str, object], key: str, lo: float, hi: float) -> float | None:
    value = opts.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise InvalidOptions(f"{key} must be a number in [{lo}, {hi}], got {value!r}")
    return float(value)


def _peer_list(opts: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = opts.get(key) or []
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise InvalidOptions(f"{key} must be a list of peer ID strings")
    return tuple(value)


def _choice(opts: Mapping[str, object], key: str, allowed: tuple[str, ...], default: str) -> str:
    value = opts.get(key, default)
    if value not in allowed:
        raise InvalidOptions(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def parse_request_options(opts: Mapping[str, object], *, default_timeout_s: float = 120.0) -> RequestOptions:
    """Validate a request's peermind options; ``InvalidOptions`` names the bad field."""
    if not isinstance(opts, Mapping):
        raise InvalidOptions("peermind options must be a JSON object")
    mode = _choice(opts, "mode", MODES, "auto")
    tags = opts.get("require_tags", [])
    if isinstance(tags, str):
        tags = [t for t in tags.split(",") if t]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidOptions("require_tags must be a list of strings")
    peer = opts.get("peer")
    if peer is not None and not isinstance(peer, str):
        raise InvalidOptions("peer must be a peer ID string")
    aggregator = opts.get("aggregator")
    if aggregator is not None and not isinstance(aggregator, str):
        raise InvalidOptions("aggregator must be a peer ID string")
    k = _number(opts, "k", 1, MAX_K)
    if k is not None and k != int(k):
        raise InvalidOptions(f"k must be a whole number, got {k!r}")
    negotiate = opts.get("negotiate", False)
    if not isinstance(negotiate, bool):
        raise InvalidOptions("negotiate must be true or false")
    explore = opts.get("explore", True)
    if not isinstance(explore, bool):
        raise InvalidOptions("explore must be true or false")
    local_only = opts.get("local_only", False)
    if not isinstance(local_only, bool | None):
        raise InvalidOptions("local_only must be true or false")
    constraints = Constraints(
        budget_ms=_number(opts, "budget_ms", 1, 3_600_000),
        max_cost=_number(opts, "max_cost", 0, 1e9),
        local_only=bool(local_only) or mode == "local",
        require_tags=tuple(tags),
        min_quality=_number(opts, "min_quality", 0, 1),
        peer=peer,
    )
    tactics = Tactics(
        k=None if k is None else int(k),
        proposers=_peer_list(opts, "proposers"),
        aggregator=aggregator,
        cost_weight=_number(opts, "cost_weight", 0, 100),
        threshold=_number(opts, "threshold", -1e6, 1),
        escalate_to=_choice(opts, "escalate_to", ESCALATE_TO, "strongest"),
        vote_rule=_choice(opts, "vote_rule", VOTE_RULES, "majority"),
        negotiate=negotiate or mode == "auction",
        explore=explore,
    )
    timeout_s = _number(opts, "timeout_s", 0.1, 3600) or default_timeout_s
    return RequestOptions(mode, constraints, tactics, timeout_s)
