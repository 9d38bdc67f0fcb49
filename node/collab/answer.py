"""An answer and its provenance: who was asked, who answered, how sure, at what price.

Every mode returns the same ``Answer`` so clients (the CLI's ``--explain``, the eval
harness, the OpenAI endpoint) read one shape. ``contributions`` lists each peer whose
result went into the answer, with the ``role`` the feedback recorder needs to turn a
later "that was right/wrong" into per-model training labels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Attempt:
    """One call to one candidate, successful or not."""

    peer_id: str
    model: str
    outcome: str  # ok | refused:<reason> | timeout | failed | bad_reply | unreachable
    latency_ms: float
    detail: str = ""
    retry_after_ms: int = 0  # refusals: when the peer said it could take work again


@dataclass(frozen=True)
class Contribution:
    """One peer's successful result that this answer used."""

    peer_id: str
    model: str
    confidence: float
    cost: float
    latency_ms: float
    choice: int | None = None  # multiple choice: the peer's own pick
    text: str = ""  # generation: the peer's own text
    role: str = "answer"  # answer | dissent | other: see node/labelled_rows.py ROLES
    served_task_id: str = ""  # hex task_id of the request this peer answered (its verdict names it)
    citations: tuple[str, ...] = ()  # knowledge peers: "<doc id>#<chunk>" of the passages used, never content


@dataclass(frozen=True)
class Answer:
    """The answer to one query with everything provenance reports: who answered, at what cost, who else was asked."""

    text: str
    mode: str
    answered_by: str
    model: str
    confidence: float
    cost: float
    latency_ms: float
    escalated: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""  # generation: "stop" or "length" as reported by the answering peer; "" unknown
    attempts: tuple[Attempt, ...] = field(default_factory=tuple)
    reason: str = ""
    scores: tuple[tuple[float, int], ...] = ()
    task_id: str = ""
    choice: int | None = None
    contributions: tuple[Contribution, ...] = ()
    router: str = "prior"  # learned | prior | "prior (embedder loading)": what ranked the candidates
    decision_ms: float = 0.0  # embedding + router + peer choice, before any LLM call
    negotiation_ms: float | None = None  # offer sent -> award accepted (auction only)
    considered: tuple[dict[str, object], ...] = ()  # candidate estimates, best first
    query_embedding: np.ndarray | None = field(default=None, repr=False, compare=False)
    """The question's routing embedding when routing computed one: the feedback rows reuse it
    instead of embedding the question again. Stays on this node (never in the provenance)."""

    @property
    def asked(self) -> list[str]:
        """The peers asked, in order."""
        return list(dict.fromkeys(a.peer_id for a in self.attempts))

    def provenance(self) -> dict[str, Any]:  # Any: the streaming API passes it on as a JsonValue
        """The answer's provenance as JSON (the ``peermind`` object of API responses)."""
        data = asdict(self)
        data.pop("text")
        data.pop("query_embedding")
        data["asked"] = self.asked
        data["attempts"] = [asdict(a) for a in self.attempts]
        data["contributions"] = [
            {**asdict(c), "text": c.text[:200]} for c in self.contributions
        ]
        data["considered"] = list(self.considered)
        return data


def answered_offline(answer: Answer, own_id: str, *, reachable_at_start: bool) -> bool:
    """Whether ``answer`` was this node's alone because no peer could be reached during the question.

    Judged over the question, not from the peer table at its end: a peer whose link flaps can
    be back for a moment as the answer is delivered (the question still had no peer), or gone
    by then after it was left out by choice (the question had one). So: answered here, no
    remote attempt succeeded, and either no model peer was reachable when the question came
    or every peer tried was unreachable.
    """
    if answer.answered_by != own_id:
        return False
    remote = [a for a in answer.attempts if a.peer_id != own_id]
    if any(a.outcome == "ok" for a in remote):
        return False
    if not reachable_at_start:
        return True
    return bool(remote) and all(a.outcome == "unreachable" for a in remote)
