"""Canary verdicts as a sequential likelihood-ratio test (Wald's SPRT).

Two hypotheses about a peer serving a model whose expected canary accuracy is p, on an
item with k choices (chance c = 1/k):

- honest: it answers right with probability p,
- dishonest: with probability d = q * p (``dishonest_share`` q, default a quarter).

When p is below chance (only for items where this node's own model, the same model as
the peer's, was wrong: see ModelBaseline), a dishonest peer, one that does not answer
like its model, is right *more* often than the model: d rises linearly from q * c at
p = c to c at p = 0. A right answer there is evidence against the peer, so a liar that
picks its model's runner-up cannot earn trust on the items its model gets wrong.

Each judged canary adds log(P(result | honest) / P(result | dishonest)) to the peer's
evidence (``EvidenceRecord.llr``):

    right: log(1 / q)                        (+1.39 for q = 1/4, whatever p is)
    wrong: log((1 - p) / (1 - q * p))        (-0.22 at p = 0.25, -0.56 at 0.5, -1.39 at 0.8)

so a wrong answer from a weak model is weak evidence and one from a strong model is
strong. The sum drifts up by KL(p || qp) per canary for an honest peer at its model's
expected accuracy and down by KL(qp || p) for a dishonest one, so it separates them
whatever p is, given enough canaries (a flat -2/+1 cannot: by that rule an honest peer
needs ~82% right to reach "trusted"). An honest peer's sum falls to -A at all with
probability at most exp(-A) (Wald), which is how ``TrustParams.canary_reject_llr``
is chosen; ReputationBook maps the sum onto its score (see there).
"""

from __future__ import annotations

import math

from ._errors import InvalidInput

__all__ = ["DISHONEST_SHARE", "canary_llr", "dishonest_accuracy"]

DISHONEST_SHARE = 0.25
MIN_EXPECTED = 1e-3
MAX_EXPECTED = 0.999


def canary_llr(
    expected: float, correct: bool, dishonest_share: float = DISHONEST_SHARE, choices: int = 4
) -> float:
    """Log-likelihood ratio honest:dishonest of one canary result (see the module docstring)."""
    if not isinstance(expected, int | float) or not math.isfinite(expected) or not 0 < expected <= 1:
        raise InvalidInput(f"expected accuracy must be within (0, 1], got {expected!r}")
    if not 0 < dishonest_share < 1:
        raise InvalidInput(f"dishonest_share must be within (0, 1), got {dishonest_share!r}")
    if isinstance(choices, bool) or not isinstance(choices, int) or choices < 2:
        raise InvalidInput(f"choices must be an integer >= 2, got {choices!r}")
    p = min(MAX_EXPECTED, max(MIN_EXPECTED, float(expected)))
    d = dishonest_accuracy(p, dishonest_share, 1.0 / choices)
    return math.log(p / d) if correct else math.log((1.0 - p) / (1.0 - d))


def dishonest_accuracy(p: float, q: float, chance: float) -> float:
    """P(right | dishonest): q * p from chance up; below chance rising linearly to chance at p = 0."""
    if p >= chance:
        return q * p
    return q * chance + (chance - p) / chance * (1.0 - q) * chance
