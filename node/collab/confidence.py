"""How sure an answer is, and how several answers combine: pure functions, no I/O.

Multiple choice: each choice's log-likelihood is divided by its token count (so long
choices are not punished for length) and a softmax over those per-token values gives the
distribution votes and mixtures combine; the pick is its argmax. The answer's confidence
is the probability of that pick under a softmax of the *total* log-likelihoods: measured
on 160 validation questions (SmolLM2, 40 each of ARC-Easy, SciQ, CSQA, ARC-Challenge) it
ranked right above wrong answers better (AUROC 0.71 / 0.74 / 0.80 / 0.60) than the top
length-normalised probability (0.65 / 0.70 / 0.61 / 0.49) or margin (0.66 / 0.74 / 0.59 /
0.57); a pick the two normalisations disagree on gets a low confidence, as it should.
Generation: the mean token log-probability the model gave its own answer (<= 0). Both
are only compared against thresholds calibrated on the validation split.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

Scores = Sequence[tuple[float, int]]

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = re.compile(r"[^\w\s.-]")
_LEAD_IN = re.compile(r"^(?:so,?\s+)?(?:the\s+)?(?:correct\s+|final\s+)?(?:answer|response)\s*(?:is|:)\s*|^(?:it|that|this)(?:'s|\s+is)\s+")


def choice_distribution(scores: Scores) -> list[float]:
    """Softmax over length-normalised log-likelihoods; sums to 1."""
    if not scores:
        return []
    values = [lp / max(n, 1) for lp, n in scores]
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def argmax(values: Sequence[float]) -> int:
    """Index of the largest value; ties go to the lowest index (as bench.normalized_choice)."""
    best, best_i = -math.inf, 0
    for i, v in enumerate(values):
        if v > best:
            best, best_i = v, i
    return best_i


def mc_confidence(scores: Scores) -> float:
    """P(pick) under a softmax of total log-likelihoods, pick = argmax of ``choice_distribution``."""
    if not scores:
        return 0.0
    pick = argmax(choice_distribution(scores))
    totals = [lp for lp, _n in scores]
    top = max(totals)
    exps = [math.exp(v - top) for v in totals]
    return exps[pick] / sum(exps)


def as_scores(distribution: Sequence[float]) -> list[tuple[float, int]]:
    """A combined distribution in the wire's (logprob, n_tokens) form.

    ``bench.normalized_choice`` on the result picks the same choice as the distribution,
    so a client that scores single-peer answers keeps working for vote and moa.
    """
    return [(math.log(max(p, 1e-12)), 1) for p in distribution]


def majority_choice(picks: Sequence[int], distributions: Sequence[Sequence[float]]) -> tuple[int, list[float]]:
    """Plurality of the voters' picks; a tie goes to the tied choice with most summed probability.

    Returns (choice, combined distribution) where the distribution is the vote share,
    nudged by the summed probabilities so the winner is also its argmax.
    """
    n_choices = len(distributions[0])
    counts = Counter(picks)
    soft = [sum(d[i] for d in distributions) for i in range(n_choices)]
    top = max(counts.values())
    tied = [c for c in range(n_choices) if counts.get(c, 0) == top]
    winner = max(tied, key=lambda c: (soft[c], -c))
    raw = [counts.get(c, 0) + 1e-3 * soft[c] for c in range(n_choices)]
    raw[winner] += 1e-3  # strictly ahead of any other tied choice
    total = sum(raw)
    return winner, [r / total for r in raw]


def weighted_mixture(distributions: Sequence[Sequence[float]], weights: Sequence[float]) -> list[float]:
    """Sum_j w_j * p_j / Sum_j w_j (uniform when all weights are zero)."""
    if not distributions:
        return []
    n_choices = len(distributions[0])
    total_w = sum(max(w, 0.0) for w in weights)
    if total_w <= 0:
        weights = [1.0] * len(distributions)
        total_w = float(len(distributions))
    return [sum(max(w, 0.0) * d[i] for d, w in zip(distributions, weights, strict=True)) / total_w for i in range(n_choices)]


def normalise_answer(text: str) -> str:
    """A key under which equivalent short answers agree: the last number, else cleaned words.

    "The answer is 1,200." and "1200" agree; "It is Paris." and "paris" agree. Only the first
    line counts, and at most 12 words, so trailing rambling does not split votes.
    """
    first = text.strip().split("\n", 1)[0] if text.strip() else ""
    numbers = _NUMBER.findall(text.strip())
    if numbers:
        value = numbers[-1].replace(",", "")
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            return f"#{number:g}"
    first = _LEAD_IN.sub("", first.lower().strip())
    words = _ARTICLES.sub(" ", _PUNCT.sub(" ", first)).split()
    return " ".join(words[:12]).strip(" .")


def majority_text(answers: Sequence[tuple[str, float]]) -> tuple[int, float]:
    """(index of the representative answer, agreement share) for generated answers.

    Answers are grouped by ``normalise_answer``; the biggest group wins, ties go to the
    group with the higher mean confidence; within it the most confident answer speaks.
    """
    if not answers:
        raise ValueError("majority_text needs at least one answer")
    groups: dict[str, list[int]] = {}
    for i, (text, _conf) in enumerate(answers):
        groups.setdefault(normalise_answer(text), []).append(i)

    def group_key(members: list[int]) -> tuple[int, float]:
        return len(members), sum(answers[i][1] for i in members) / len(members)

    best = max(groups.values(), key=group_key)
    speaker = max(best, key=lambda i: answers[i][1])
    return speaker, len(best) / len(answers)
