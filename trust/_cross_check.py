"""Cross-checking two peers' answers to the same question with a third source.

Disagreement alone proves nothing (either side may be wrong), so evidence is
only produced when a third, independent source breaks the tie, and only ever
against the side whose reputation is not higher: a colluding low-reputation
pair can therefore never talk a better-reputed peer down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ._answers import answers_match
from ._errors import InvalidInput
from ._evidence import Evidence, EvidenceRecord
from ._ids import check_peer_id
from ._reputation import ReputationBook

__all__ = ["PeerAnswer", "cross_check"]


@dataclass(frozen=True, slots=True)
class PeerAnswer:
    """An answer and who gave it; ``peer=None`` means this node itself (its model or gold data)."""

    peer: str | None
    answer: str

    def __post_init__(self) -> None:
        if self.peer is not None:
            check_peer_id(self.peer)
        if not isinstance(self.answer, str):
            raise InvalidInput(f"answer must be a string, got {type(self.answer).__name__}")


def cross_check(
    a: PeerAnswer,
    b: PeerAnswer,
    third: PeerAnswer,
    book: ReputationBook,
    *,
    at: float,
    same: Callable[[str, str], bool] = answers_match,
) -> list[EvidenceRecord]:
    """Evidence records to add after comparing A's and B's answers using a third source.

    - A and B agree and the third agrees too: cross_check_agree for A and B.
    - A and B disagree, the third agrees with exactly one side (the winner),
      and the loser's score is not higher than the winner's: cross_check_disagree
      against the loser and cross_check_agree for the winner.
    - Anything else (the third sides with neither or both, A and B agree but
      the third does not, or the loser is better reputed than the winner):
      no evidence.
    """
    if a.peer is None or b.peer is None:
        raise InvalidInput("cross_check compares two peers: a.peer and b.peer must be peer IDs")
    if a.peer == b.peer:
        raise InvalidInput(f"cross_check needs two different peers, got {a.peer!r} twice")
    if third.peer is not None and third.peer in (a.peer, b.peer):
        raise InvalidInput(
            f"the third source {third.peer!r} must be independent of the two peers compared"
        )
    source = third.peer or "this node"
    if same(a.answer, b.answer):
        if not same(third.answer, a.answer):
            return []
        return [
            EvidenceRecord(
                p, Evidence.CROSS_CHECK_AGREE, at=at, detail=f"agreed with {o} and {source}"
            )
            for p, o in ((a.peer, b.peer), (b.peer, a.peer))
        ]
    with_a, with_b = same(third.answer, a.answer), same(third.answer, b.answer)
    if with_a == with_b:
        return []
    winner, loser = (a.peer, b.peer) if with_a else (b.peer, a.peer)
    if book.score(loser) > book.score(winner):
        return []
    return [
        EvidenceRecord(
            loser,
            Evidence.CROSS_CHECK_DISAGREE,
            at=at,
            detail=f"disagreed with {winner}; {source} sided with {winner}",
        ),
        EvidenceRecord(
            winner, Evidence.CROSS_CHECK_AGREE, at=at, detail=f"{source} agreed against {loser}"
        ),
    ]
