"""Canaries: questions with known answers slipped in among real queries.

A canary must be indistinguishable on the wire: the node sends it through the
same task path, message type, deadline and peer selection as a real query, and
the decision is a coin flip per query (never periodic) so its position cannot
be predicted. The policy also avoids sending a peer the same canary twice until
all items were used, because a repeated prompt is a tell.
"""

from __future__ import annotations

import random
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from ._answers import normalise_answer
from ._errors import InvalidInput
from ._evidence import Evidence
from ._ids import check_peer_id

__all__ = ["CanaryItem", "CanaryPolicy", "judge_canary"]


@dataclass(frozen=True, slots=True)
class CanaryItem:
    """One question from the node's own validation data with its accepted answer(s).

    ``expected`` may be one string or several; it is stored as a tuple.

    Use items the node's own model answers reliably (or with unambiguous gold
    answers): a canary that honest peers often fail punishes them as liars.
    """

    item_id: str
    prompt: str
    expected: str | Sequence[str]

    def __post_init__(self) -> None:
        expected = (self.expected,) if isinstance(self.expected, str) else tuple(self.expected)
        if not expected or not all(isinstance(e, str) and normalise_answer(e) for e in expected):
            raise InvalidInput(
                f"canary {self.item_id!r} needs at least one non-empty expected answer"
            )
        object.__setattr__(self, "expected", expected)


class CanaryPolicy:
    """Decides per query whether to send a canary instead, and which one.

    ``rate`` is the probability that a query slot carries a canary; ``rng`` is
    injected so tests (and simulations) are reproducible.
    """

    def __init__(self, rate: float, rng: random.Random, max_peers: int = 10_000) -> None:
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise InvalidInput(f"canary rate must be a probability in [0, 1], got {rate!r}")
        if max_peers < 1:
            raise InvalidInput(f"max_peers must be >= 1, got {max_peers}")
        self.rate = float(rate)
        self._rng = rng
        self._max_peers = max_peers
        self._sent: OrderedDict[str, set[str]] = OrderedDict()

    def pick(self, peer: str, items: Sequence[CanaryItem]) -> CanaryItem | None:
        """A canary to send to ``peer`` in place of (or beside) this query, or None.

        The coin is flipped even when ``items`` is empty, so the random stream
        (and thus the canary pattern) does not depend on data availability.
        """
        check_peer_id(peer)
        if self._rng.random() >= self.rate or not items:
            return None
        sent = self._sent.pop(peer, set())
        fresh = [item for item in items if item.item_id not in sent]
        if not fresh:
            sent = set()
            fresh = list(items)
        item = fresh[self._rng.randrange(len(fresh))]
        sent.add(item.item_id)
        self._sent[peer] = sent
        while len(self._sent) > self._max_peers:
            self._sent.popitem(last=False)
        return item


_STATED = re.compile(r"\b(?:answer|option|choice)(?: is)? ")


def judge_canary(expected: str | Sequence[str], got: str | None) -> Evidence:
    """ANSWER_RIGHT if ``got`` gives an expected answer, else ANSWER_WRONG.

    After normalisation (see normalise_answer) an answer is right when it
    equals an expected one, starts with it ("B, because ..."), or its first
    "answer is ..." statement starts with it. Deliberately not "contains":
    a peer listing every candidate would pass. So canary prompts should ask
    for a short answer (a letter, a number, a name). Missing or empty answers
    are wrong.
    """
    accepted = [expected] if isinstance(expected, str) else list(expected)
    targets = [normalise_answer(e) for e in accepted if isinstance(e, str)]
    targets = [t for t in targets if t]
    if not targets:
        raise InvalidInput("judge_canary needs at least one non-empty expected answer")
    if not isinstance(got, str):
        return Evidence.ANSWER_WRONG
    answer = normalise_answer(got)
    if not answer:
        return Evidence.ANSWER_WRONG
    stated = _STATED.search(answer)
    claims = [answer] if stated is None else [answer, answer[stated.end() :]]
    for claim in claims:
        for target in targets:
            if claim == target or claim.startswith(target + " "):
                return Evidence.ANSWER_RIGHT
    return Evidence.ANSWER_WRONG
