"""Judging a peer's answer to a question whose answer this node knows (canaries, probes, idle learning).

A right or wrong answer is weighed against what an honest peer serving the same model is
expected to get right (``ModelBaseline``), never against this node's own model: the
record carries the sequential test's log-likelihood ratio (``canary_llr``), and the
verdict feeds the model's baseline. The judged peer and peers already excluded are left
out of its bar, so a liar cannot lower it.
"""

from __future__ import annotations

from collections.abc import Callable

from ._evidence import Evidence, EvidenceRecord
from ._model_baseline import SELF_SOURCE, ModelBaseline
from ._params import TrustParams
from ._replay import canary_detail
from ._sprt import canary_llr

__all__ = ["KnownAnswerJudge"]


class KnownAnswerJudge:
    """Turns a known-answer verdict into an LLR-carrying record; ``askable(peer)`` False = excluded."""

    def __init__(self, params: TrustParams, baseline: ModelBaseline, askable: Callable[[str], bool]) -> None:
        self.params = params
        self.baseline = baseline
        self._askable = askable

    def expected_accuracy(self, model: str, peer: str, choices: int, local_right: bool | None = None) -> float:
        """What an honest peer serving ``model`` should get right, learned without ``peer``'s own
        results (a liar must not lower its own bar) and without peers already excluded."""
        leave_out = {peer} | {s for s in self.baseline.sources(model) if s != SELF_SOURCE and not self._askable(s)}
        return self.baseline.expected(model, choices=max(2, choices), leave_out=leave_out, local_right=local_right)

    def judge(self, peer: str, model: str, choices: int, right: bool, local_right: bool | None,
              what: str, *, at: float) -> EvidenceRecord:
        """The record of one verdict (``what`` names the item and answer for ``explain``); feeds the baseline."""
        expected = self.expected_accuracy(model, peer, choices, local_right)
        llr = canary_llr(expected, right, self.params.canary_dishonest_share, max(2, choices))
        mine = {True: "; mine right", False: "; mine wrong", None: ""}[local_right]
        detail = canary_detail(llr, f"{what}; {model} expected {expected:.2f}{mine}")
        evidence = Evidence.ANSWER_RIGHT if right else Evidence.ANSWER_WRONG
        self.baseline.add(model, peer, right, local_right=local_right)
        return EvidenceRecord(peer, evidence, at=at, detail=detail, llr=llr)
