"""The score decisions use: local reputation, with global trust where local evidence is thin.

A node that has seen little of a peer knows little; the network may know more. For a
peer with fewer than ``probation_interactions`` local records, decisions (whom to ask,
routing weight) use

    decision = w * local + (1 - w) * g,    w = interactions / probation_interactions

where g is the peer's EigenTrust value mapped onto the local score scale:

    r = t / mean(t of the peers in the global vector but this node and the anchors)
    g = prior + (GLOBAL_CEILING - prior) * min(1, r)

A peer the network vouches for at least as much as an average peer counts like a trusted
one (0.8); one it vouches for less sits in between. EigenTrust cannot express distrust
(opinions list only peers above the prior), so a value of 0 means "nobody vouches yet",
not "bad": then g is None and the decision stays local. Global trust never rescues a
peer this node has proof against: banned peers and peers with a protocol violation are
judged on local evidence alone (see ``TrustWiring``).

``honesty_weight`` turns a decision score into the routing weight: a probability-like
"this peer answers honestly" in [0, 1] that the collaboration layer multiplies into a
candidate's predicted P(correct).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from ._errors import InvalidInput

__all__ = ["GLOBAL_CEILING", "blend", "global_score", "honesty_weight"]

GLOBAL_CEILING = 0.8


def global_score(
    peer: str, values: Mapping[str, float], *, prior: float, exclude: Collection[str] = ()
) -> float | None:
    """The peer's global trust on the local scale, or None when nobody vouches for it.

    ``exclude``: this node and the anchors (pre-trusted peers), whose share comes from
    being anchors, not from opinions, and would inflate the average.
    """
    value = values.get(peer, 0.0)
    if not value > 0:
        return None
    others = [v for p, v in values.items() if p not in exclude]
    mean = sum(others) / len(others) if others else 0.0
    share = min(1.0, value / mean) if mean > 0 else 1.0
    return prior + (GLOBAL_CEILING - prior) * share


def blend(local: float, interactions: int, probation: int, global_value: float | None) -> float:
    """Local score, blended with ``global_value`` by how little local evidence there is."""
    if global_value is None or probation <= 0 or interactions >= probation:
        return local
    w = max(0, interactions) / probation
    return w * local + (1.0 - w) * global_value


def honesty_weight(score: float, *, ask: float, prior: float, trusted: float, newcomer: float) -> float:
    """Routing weight of a decision score: 0 at or below ``ask``, ``newcomer`` at the prior, 1 from ``trusted``.

    Piecewise linear in between: negative evidence lowers it towards 0, positive evidence
    raises it towards 1; an unproven peer keeps most of its weight, so a better model on
    an honest newcomer can win routing from the first question.
    """
    if not 0 < ask < prior < trusted < 1 or not 0 <= newcomer <= 1:
        raise InvalidInput(f"need 0 < ask < prior < trusted < 1 and newcomer in [0, 1], got "
                           f"{ask}, {prior}, {trusted}, {newcomer}")
    if score >= trusted:
        return 1.0
    if score >= prior:
        return newcomer + (1.0 - newcomer) * (score - prior) / (trusted - prior)
    if score > ask:
        return newcomer * (score - ask) / (prior - ask)
    return 0.0
