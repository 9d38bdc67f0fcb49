"""Collaboration: choosing which peer answers, and combining several peers' answers.

Modes (``Collaborator.run(job, mode=...)``, the API's ``mode``, ``peermind ask --mode``):

- ``route``: one peer, chosen by utility = P(correct) from the learned router (query
  embedding -> per-model logistic head) minus cost and latency penalties, within the
  request's constraints; cold start (no trained head) takes the strongest model by ad.
- ``cascade``: cheapest model first; escalate to a stronger one only when confidence is
  below the threshold calibrated on the validation split (``escalate_to="vote"``: hybrid).
- ``vote``: k peers of distinct models answer; plurality (or soft) vote.
- ``moa``: proposers answer, an aggregator peer synthesises (generation); for multiple
  choice, a router-weighted mixture of the proposers' choice distributions.
- ``auction``: contract net (offer, signed bids, award) on ``/peermind/negotiate/1.0.0``.
- ``auto``: route, then escalate like a cascade when unsure. ``local``: this node only.

Every answer carries provenance (``Answer.provenance()``) and becomes local feedback
rows; the router lives in ``RouterHolder`` and is seeded from benchmark train splits.
"""

from .answer import Answer, Attempt, Contribution
from .candidates import Candidate
from .constraints import (
    MODES,
    NO_CONSTRAINTS,
    NO_TACTICS,
    Constraints,
    RequestOptions,
    Tactics,
    parse_request_options,
)
from .embedding import QueryEmbedder, query_text
from .errors import (
    AllCandidatesFailed,
    CollaborationError,
    InfeasibleConstraints,
    InvalidOptions,
    RouterUnavailable,
    SeedError,
    SeedInProgress,
    UnknownTask,
)
from .job import Job
from .negotiation import NEGOTIATE_PROTOCOL, Auctioneer, Bidder
from .policy import CollabHooks, Collaborator
from .router_state import Calibration, RouterHolder, training_rows
from .seed import SeedPlan, SeedRunner
from .service import Collaboration

__all__ = [
    "MODES",
    "NEGOTIATE_PROTOCOL",
    "NO_CONSTRAINTS",
    "NO_TACTICS",
    "AllCandidatesFailed",
    "Answer",
    "Attempt",
    "Auctioneer",
    "Bidder",
    "Calibration",
    "Candidate",
    "CollabHooks",
    "Collaboration",
    "CollaborationError",
    "Collaborator",
    "Constraints",
    "Contribution",
    "InfeasibleConstraints",
    "InvalidOptions",
    "Job",
    "QueryEmbedder",
    "RequestOptions",
    "RouterHolder",
    "RouterUnavailable",
    "SeedError",
    "SeedInProgress",
    "SeedPlan",
    "SeedRunner",
    "Tactics",
    "UnknownTask",
    "parse_request_options",
    "query_text",
    "training_rows",
]
