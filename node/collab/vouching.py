"""Whether a candidate's answer may reach the user unchecked: the trust layer has vouched for it.

A newcomer starts at routing weight ``trust.newcomer_weight`` (0.9); an honest peer past
probation, or one the network vouches for, is above PROVEN_WEIGHT. An unproven peer is
still asked (that is how newcomers are explored), but only redundantly: its answer is never
delivered instead of a proven one, and no escalation hands it the final word.
"""

from __future__ import annotations

from .candidates import Candidate

PROVEN_WEIGHT = 0.95


def unproven(candidate: Candidate, pinned: str | None = None) -> bool:
    """A remote peer below PROVEN_WEIGHT that the request did not pin."""
    return not candidate.is_local and candidate.trust < PROVEN_WEIGHT and pinned != candidate.peer_id
