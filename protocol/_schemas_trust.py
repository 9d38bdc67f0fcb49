"""Reputation gossip: a peer's local trust in other peers.

Peers periodically publish their normalised local trust so the network
can compute global trust (EigenTrust-style); ``epoch`` lets receivers
drop stale rounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar

from ._fields import Count, PeerText, Unit
from ._schema import Limits, Message

MAX_OPINIONS = 256


@dataclass(frozen=True, kw_only=True)
class PeerOpinion(Message):
    """Trust in one peer, in [0, 1]."""

    peer: PeerText
    trust: Unit


@dataclass(frozen=True, kw_only=True)
class TrustOpinion(Message):
    """One round of a peer's opinions about others."""

    TYPE: ClassVar[str] = "trust.opinion"

    epoch: Count
    opinions: Annotated[list[PeerOpinion], Limits(max_items=MAX_OPINIONS)] = field(
        default_factory=list
    )
