"""Seeded canary streams through the real ReputationBook, ModelBaseline and canary_llr.

Used by tests/trust/test_canary_sprt.py and ``python -m peermind.trust.benchmark`` (the
figures in trust/README.md). The node's order: this node's own model answers the item
first (it tells how hard the item is), witnesses serving the judged peer's model answer
canaries too, then the judged peer answers, is judged against its model's expectation
without its own results, and its result joins the baseline. Every canary also brings the
task_ok record the real attempt produces.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import base58

from ._evidence import Evidence, EvidenceRecord
from ._model_baseline import SELF_SOURCE, ModelBaseline
from ._params import TrustParams
from ._reputation import ReputationBook, Standing
from ._sprt import canary_llr

__all__ = ["OTHER", "OWN", "PEER", "Run", "StreamModel", "flat_rule", "simulate"]


def _pid(name: str) -> str:
    return base58.b58encode(b"\x00\x24\x08\x01\x12\x20" + hashlib.sha256(name.encode()).digest()).decode()


class _Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


PEER = _pid("judged")
WITNESSES = [_pid(f"witness-{i}") for i in range(3)]
OWN = "smollm2"  # this node's model
OTHER = "gemma3-270m"


@dataclass(frozen=True)
class StreamModel:
    """How a source answers: same model as this node (agrees with it 97% of the time), or an
    independent model right with probability ``accuracy``; liars: never right, or right only
    when this node's model was wrong and gold was the runner-up (testnet's ``wrong`` role)."""

    kind: str
    accuracy: float = 0.0

    def answers(self, rng: random.Random, local_right: bool) -> bool:
        if self.kind == "same":
            return local_right if rng.random() < 0.97 else not local_right
        if self.kind == "independent":
            return rng.random() < self.accuracy
        if self.kind == "runner_up":
            return not local_right and rng.random() < 0.4
        return False  # always wrong


@dataclass
class Run:
    first_below_ask: int | None
    first_trusted: int | None
    askable_at_end: bool
    banned_ever: bool


def simulate(peer: StreamModel, model: str, *, witness: StreamModel | None, witnesses: int, own_accuracy: float,
             seed: int, canaries: int = 120, choices: int = 4) -> Run:
    rng = random.Random(seed)
    clock = _Clock()
    book = ReputationBook(TrustParams(), now=clock)
    baseline = ModelBaseline(own_model=OWN)
    run = Run(None, None, True, False)
    for n in range(1, canaries + 1):
        clock.t += 60
        local_right = rng.random() < own_accuracy
        baseline.add(OWN, SELF_SOURCE, local_right)
        if witness is not None:
            for w in WITNESSES[:witnesses]:
                theirs = rng.random() < own_accuracy
                baseline.add(model, w, witness.answers(rng, theirs), local_right=theirs)
        correct = peer.answers(rng, local_right)
        expected = baseline.expected(model, choices=choices, leave_out={PEER}, local_right=local_right)
        llr = canary_llr(expected, correct, choices=choices)
        book.record(EvidenceRecord(PEER, Evidence.TASK_OK, at=clock.t))
        kind = Evidence.ANSWER_RIGHT if correct else Evidence.ANSWER_WRONG
        book.record(EvidenceRecord(PEER, kind, at=clock.t, llr=llr))
        baseline.add(model, PEER, correct, local_right=local_right)
        if not book.should_ask(PEER) and run.first_below_ask is None:
            run.first_below_ask = n
        if book.standing(PEER) is Standing.TRUSTED and run.first_trusted is None:
            run.first_trusted = n
        run.banned_ever |= book.is_banned(PEER)
    run.askable_at_end = book.should_ask(PEER)
    return run


def flat_rule(seed: int, accuracy: float, canaries: int = 120) -> int | None:
    """The old rule (-2 wrong / +1 right, node defaults) on items this node's model got right."""
    rng = random.Random(seed)
    clock = _Clock()
    params = TrustParams(weights={Evidence.ANSWER_WRONG: -2.0, Evidence.ANSWER_RIGHT: 1.0})
    book = ReputationBook(params, now=clock)
    for n in range(1, canaries + 1):
        clock.t += 60
        book.record(EvidenceRecord(PEER, Evidence.TASK_OK, at=clock.t))
        right = rng.random() < accuracy
        book.record(EvidenceRecord(PEER, Evidence.ANSWER_RIGHT if right else Evidence.ANSWER_WRONG, at=clock.t))
        if not book.should_ask(PEER):
            return n
    return None


