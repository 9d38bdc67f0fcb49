"""Whether a candidate's answer may reach the user unchecked: the trust layer has vouched for it.

A newcomer starts at routing weight ``trust.newcomer_weight`` (0.9); an honest peer past
probation, or one the network vouches for, is above PROVEN_WEIGHT. An unproven peer is
still asked (that is how newcomers are explored), but only redundantly: its answer is never
delivered instead of a proven one, and no escalation hands it the final word.
"""

from __future__ import annotations

from .candidates import Candidate

PROVEN_WEIGHT = 0.95
LOCAL_RECORDS_TO_VOUCH = 10
"""Own evidence needed before a peer's answer is delivered unchecked (the trust layer's
probation length): global trust may keep a newcomer's routing weight high, but other nodes'
opinions (early ones rest on little more than answers on time) never vouch for delivery."""


def unproven(candidate: Candidate, pinned: str | None = None, *, own_evidence: bool = True) -> bool:
    """A remote peer the request did not pin, below PROVEN_WEIGHT or with too little own evidence.

    ``own_evidence=False`` (a node that checks no peer itself: no canaries, probes or idle
    learning) cannot demand records of its own, and goes by the routing weight alone.
    """
    if candidate.is_local or pinned == candidate.peer_id:
        return False
    short = own_evidence and candidate.local_records < LOCAL_RECORDS_TO_VOUCH
    return candidate.trust < PROVEN_WEIGHT or short
